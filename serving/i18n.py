"""User-facing words of the CLI and the API, French first."""
from __future__ import annotations

from ledger.config import get_settings

MESSAGES: dict[str, dict[str, str]] = {
    "imported": {"fr": "Import terminé", "en": "Import finished"},
    "created": {"fr": "créés", "en": "created"},
    "updated": {"fr": "mis à jour", "en": "updated"},
    "unchanged": {"fr": "inchangés", "en": "unchanged"},
    "invalid": {"fr": "Données invalides, rien n'a été importé", "en": "Invalid data, nothing was imported"},
    "key_created": {"fr": "Clé API créée (rôle {role}) — elle ne sera plus jamais affichée :",
                    "en": "API key created (role {role}) — it will never be shown again:"},
    "unknown_role": {"fr": "Rôle inconnu {role!r} : choisir parmi {roles}",
                     "en": "Unknown role {role!r}: choose one of {roles}"},
    "serving": {"fr": "Relance écoute sur {url} (documentation de l'API : {url}/docs)",
                "en": "Relance listening on {url} (API documentation: {url}/docs)"},
    "synth_written": {"fr": "Grand livre synthétique écrit dans {out} : {customers} clients, {invoices} factures, {payments} paiements",
                      "en": "Synthetic ledger written to {out}: {customers} customers, {invoices} invoices, {payments} payments"},
    "step": {"fr": "Étape", "en": "Step"},
    "error": {"fr": "Erreur", "en": "Error"},
    "demo_keys": {"fr": "Clés API de démonstration (nom, rôle, clé ; le nom d'une clé d'agent est son portefeuille) :",
                  "en": "Demo API keys (name, role, key; an agent key's name is its portfolio):"},
    "demo_done": {"fr": "Démo prête.", "en": "Demo ready."},
    "late_rate": {"fr": "taux de retard", "en": "late rate"},
}


def t(key: str, lang: str | None = None, **values: object) -> str:
    lang = lang or get_settings().language
    text = MESSAGES[key].get(lang) or MESSAGES[key]["fr"]
    return text.format(**values) if values else text
