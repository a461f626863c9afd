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
    "key_expires": {"fr": "Elle expire le {at} (UTC).", "en": "It expires on {at} (UTC)."},
    "bad_expiry": {"fr": "Expiration {value!r} illisible : une date (2027-01-31), une date-heure ISO ou une durée (90d)",
                   "en": "Unreadable expiry {value!r}: a date (2027-01-31), an ISO date-time or a duration (90d)"},
    "past_expiry": {"fr": "L'expiration {value!r} est déjà passée", "en": "The expiry {value!r} is already past"},
    "keys_title": {"fr": "Clés API ({n})", "en": "API keys ({n})"},
    "keys_prefix": {"fr": "préfixe", "en": "prefix"},
    "keys_role": {"fr": "rôle", "en": "role"},
    "keys_name": {"fr": "nom", "en": "name"},
    "keys_created": {"fr": "créée le", "en": "created"},
    "keys_expires": {"fr": "expire le", "en": "expires"},
    "keys_status": {"fr": "état", "en": "status"},
    "status_active": {"fr": "active", "en": "active"},
    "status_revoked": {"fr": "révoquée", "en": "revoked"},
    "status_expired": {"fr": "expirée", "en": "expired"},
    "unknown_key": {"fr": "Aucune clé de préfixe {prefix!r} (voir `relance keys list`)",
                    "en": "No key with prefix {prefix!r} (see `relance keys list`)"},
    "key_revoked": {"fr": "Clé {prefix} révoquée : elle est refusée dès maintenant.",
                    "en": "Key {prefix} revoked: it is refused from now on."},
}


def t(key: str, lang: str | None = None, **values: object) -> str:
    lang = lang or get_settings().language
    text = MESSAGES[key].get(lang) or MESSAGES[key]["fr"]
    return text.format(**values) if values else text
