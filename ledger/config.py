"""Settings, read from the environment (and `.env`), obtained through a cached `get_settings()`.

Nothing is configured at import time: the engine, MLflow and logging read these when first used.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite:///relance.db"
    mlflow_tracking_uri: str = "sqlite:///mlruns/mlflow.db"
    mlflow_artifacts: str = "mlruns"
    model_name: str = "late-payment"
    # what the API serves: default models:/<model_name>@champion; a bundle directory also works
    model_uri: str | None = None
    # not LANGUAGE: that one is the POSIX locale list
    language: str = Field(default="fr", validation_alias="RELANCE_LANG")
    company_name: str = "Relance Démo SAS"
    # the creditor as letters and formal notices name it (docs/dunning.md, "Settings"); a letter
    # without address, SIREN or IBAN is still rendered, and the run report says what is missing
    creditor_legal_name: str | None = Field(default=None, max_length=200)
    creditor_address: str | None = Field(default=None, max_length=300)
    creditor_postal_code: str | None = Field(default=None, max_length=16)
    creditor_city: str | None = Field(default=None, max_length=100)
    creditor_siren: str | None = Field(default=None, pattern=r"^[0-9 ]{9,11}$")
    creditor_siret: str | None = Field(default=None, pattern=r"^[0-9 ]{14,17}$")
    creditor_vat_number: str | None = Field(default=None, max_length=20)
    creditor_iban: str | None = Field(default=None, pattern=r"^[A-Z]{2}[0-9]{2}[A-Z0-9 ]{10,40}$")
    creditor_bic: str | None = Field(default=None, pattern=r"^[A-Z0-9]{8}([A-Z0-9]{3})?$")
    creditor_phone: str | None = Field(default=None, max_length=40)
    creditor_email: str | None = Field(default=None, max_length=200)
    creditor_signatory: str | None = Field(default=None, max_length=100)
    creditor_signatory_title: str | None = Field(default=None, max_length=100)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_sender: str = "recouvrement@relance.example"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    max_body_bytes: int = 10 * 1024 * 1024
    # webhooks to loopback (127.0.0.1, ::1): for tests and a developer's machine only
    webhooks_allow_loopback: bool = False
    # FEC import (docs/fec.md): terms when neither the file nor the customer gives a due date,
    # the opening-balance journals, and what unlettered receipts do (credit | oldest_first)
    fec_default_terms: str = "30 jours"
    fec_opening_journals: str = "AN,RAN,ANO,ANX"
    fec_unlettered: str = "credit"
    # reports total in this currency, converting each currency at the ECB rates (ledger.fx)
    reporting_currency: str = "EUR"
    # a rate older than this is not used: the ECB publishes every TARGET business day
    fx_max_age_days: int = Field(default=7, ge=0, le=366)
    # per API key, on the expensive routes (predictions, risk, next action, dunning runs, reports,
    # imports, model reload); `limits` notation, e.g. "60/minute" or "600/minute;10000/day".
    # Generous by default: a person or a billing system never meets it, a runaway loop does.
    rate_limit: str = Field(default="600/minute", validation_alias="RELANCE_RATE_LIMIT")
    # server processes sharing that limit: set by `relance serve --workers N` for its workers
    workers: int = Field(default=1, ge=1, le=64, validation_alias="RELANCE_WORKERS")
    currencies: str = "EUR,USD,GBP,CHF,CAD,JPY,SEK,NOK,DKK,PLN,CZK,AUD,CNY,MAD,TND,XOF"
    # the daily dunning run of `relance serve` / `relance worker` (serving.schedule): HH:MM local
    # time on French business days; RELANCE_SCHEDULE=false turns it off in `relance serve`
    dunning_time: str = Field(default="07:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                              validation_alias="RELANCE_DUNNING_TIME")
    dunning_timezone: str = Field(default="Europe/Paris", validation_alias="RELANCE_DUNNING_TIMEZONE")
    schedule: bool = Field(default=True, validation_alias="RELANCE_SCHEDULE")
    # exploration (docs/policy.md): the share of e-mail reminders the daily run varies at random
    # among acceptable actions, storing each action's probability; 0 (off) by default
    exploration: float = Field(default=0.0, ge=0.0, le=1.0, validation_alias="RELANCE_EXPLORATION")

    @property
    def currency_codes(self) -> frozenset[str]:
        return frozenset(code.strip().upper() for code in self.currencies.split(",") if code.strip())

    def missing_creditor_details(self) -> list[str]:
        """What a letter that can be posted needs and the settings lack."""
        wanted = {"creditor_address": self.creditor_address, "creditor_postal_code":
                  self.creditor_postal_code, "creditor_city": self.creditor_city,
                  "creditor_siren": self.creditor_siren, "creditor_iban": self.creditor_iban}
        return [name for name, value in wanted.items() if not value]

    @property
    def mlruns_dir(self) -> Path:
        return Path(self.mlflow_artifacts)


@lru_cache
def get_settings() -> Settings:
    return Settings()
