"""The command line's words, French first (`RELANCE_LANG=en` for English): one dictionary per
group of commands, served by `serving.labels` (`t`, and each command module's `WORDS`)."""
from __future__ import annotations

# the CLI's and the API's general words (`t`)
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

# `relance fec` / `relance open-items` (imports of accounting files)
FEC_WORDS: dict[str, dict[str, str]] = {
    "report": {"fr": "Import FEC", "en": "FEC import"},
    "issues": {"fr": "Lignes en erreur : {n} — rien n'a été importé (--skip-invalid pour importer les écritures valides)",
               "en": "Lines in error: {n} — nothing was imported (--skip-invalid imports the valid entries)"},
    "line": {"fr": "ligne", "en": "line"},
    "column": {"fr": "colonne", "en": "column"},
    "problem": {"fr": "problème", "en": "problem"},
    "more": {"fr": "… et {n} autres", "en": "… and {n} more"},
    "lines": {"fr": "lignes lues", "en": "lines read"},
    "entries": {"fr": "écritures", "en": "entries"},
    "invalid_entries": {"fr": "écritures invalides (ignorées)", "en": "invalid entries (skipped)"},
    "opening_lines": {"fr": "lignes d'à-nouveaux (comptes clients)", "en": "opening-balance lines (customer accounts)"},
    "opening_items": {"fr": "à-nouveaux repris", "en": "opening items placed"},
    "lettering_groups": {"fr": "groupes de lettrage", "en": "lettering groups"},
    "due_column": {"fr": "échéances lues dans le fichier", "en": "due dates from the file"},
    "due_customer_terms": {"fr": "échéances selon les conditions du client", "en": "due dates from the customer's terms"},
    "due_default": {"fr": "échéances selon les conditions par défaut", "en": "due dates from the default terms"},
    "unbalanced": {"fr": "Groupes de lettrage déséquilibrés : {n} (appliqués autant que possible)",
                   "en": "Unbalanced lettering groups: {n} (applied as far as they go)"},
    "unplaced": {"fr": "Non placés : {n}", "en": "Not placed: {n}"},
    "customer": {"fr": "client", "en": "customer"},
    "letter": {"fr": "lettrage", "en": "lettering"},
    "partial": {"fr": "partiel", "en": "partial"},
    "debits": {"fr": "débits", "en": "debits"},
    "credits": {"fr": "crédits", "en": "credits"},
    "record": {"fr": "pièce", "en": "record"},
    "amount": {"fr": "montant", "en": "amount"},
    "reason": {"fr": "raison", "en": "reason"},
    "reason_unallocated_credit": {"fr": "crédit client non lettré (reste au crédit du client)",
                                  "en": "unlettered customer credit (kept as customer credit)"},
    "reason_opening_already_imported": {"fr": "à-nouveau déjà présent via un exercice antérieur (ignoré)",
                                        "en": "opening balance already in the ledger from an earlier year (skipped)"},
    "open_items_errors": {"fr": "Balance âgée : {n} erreur(s), rien n'a été importé",
                          "en": "Open items: {n} error(s), nothing was imported"},
    "open_items_done": {"fr": "Balance âgée : {rows} lignes, {invoices} factures, {notes} avoirs, "
                              "{payments} règlements partiels ; reste dû {open} €",
                        "en": "Open items: {rows} rows, {invoices} invoices, {notes} credit notes, "
                              "{payments} partial payments; open {open} EUR"},
    "where": {"fr": "où", "en": "where"},
    "reason_penalty_invoice": {"fr": "facture de pénalités déjà au grand livre (non relancée)",
                               "en": "penalty invoice already in the ledger (not chased)"},
    "not_a_file": {"fr": "fichier introuvable", "en": "not a file"},
    "unlettered": {"fr": "valeurs possibles : credit, oldest-first", "en": "expected credit or oldest-first"},
    "export_options": {"fr": "séparateur tab ou pipe, encodage utf-8 ou latin-1",
                       "en": "separator tab or pipe, encoding utf-8 or latin-1"},
    "written": {"fr": "{path} : {n} lignes écrites", "en": "{path}: {n} lines written"},
    "customers": {"fr": "clients", "en": "customers"},
    "invoices": {"fr": "factures", "en": "invoices"},
    "credit_notes": {"fr": "avoirs", "en": "credit notes"},
    "payments": {"fr": "règlements", "en": "payments"},
    "lettered_payments": {"fr": "règlements lettrés", "en": "lettered payments"},
    "created": {"fr": "créés", "en": "created"},
    "updated": {"fr": "mis à jour", "en": "updated"},
    "unchanged": {"fr": "inchangés", "en": "unchanged"},
    "delivered": {"fr": "Webhooks : {delivered} livrés, {retrying} à réessayer, {failed} abandonnés ({fanned} nouveaux)",
                  "en": "Webhooks: {delivered} delivered, {retrying} to retry, {failed} given up ({fanned} new)"},
}

# `relance fx` (ECB exchange rates)
FX_WORDS: dict[str, dict[str, str]] = {
    "imported": {"fr": "Taux BCE : {rows} lus ({created} nouveaux, {updated} modifiés, {unchanged} inchangés), "
                       "du {first} au {last}, devises {currencies}",
                 "en": "ECB rates: {rows} read ({created} new, {updated} changed, {unchanged} unchanged), "
                       "from {first} to {last}, currencies {currencies}"},
    "skipped": {"fr": "Devises non configurées ignorées : {codes}", "en": "Currencies not configured, skipped: {codes}"},
    "invalid": {"fr": "Fichier refusé, rien n'a été importé", "en": "File refused, nothing was imported"},
    "not_a_file": {"fr": "{file} : fichier introuvable", "en": "{file}: no such file"},
}

# `relance train|score|drift` (the model)
MODEL_WORDS: dict[str, dict[str, str]] = {
    "reading": {"fr": "Lecture du grand livre", "en": "Reading the ledger"},
    "training": {"fr": "Entraînement et évaluation", "en": "Training and evaluation"},
    "scoring": {"fr": "Calcul des scores", "en": "Scoring"},
    "drift": {"fr": "Rapport de dérive (Evidently)", "en": "Drift report (Evidently)"},
    "registered": {"fr": "Modèle {name} version {version} enregistré : @{alias}",
                   "en": "Model {name} version {version} registered: @{alias}"},
    "compared": {"fr": "Log loss sur {n} factures récentes : nouveau {new}, champion {old} "
                       "(marge exigée {margin})",
                 "en": "Log loss on {n} recent invoices: new {new}, champion {old} "
                       "(margin required {margin})"},
    "no_model": {"fr": "Aucun modèle : lancer d'abord `relance train`",
                 "en": "No model: run `relance train` first"},
    "customers": {"fr": "Clients les plus risqués", "en": "Riskiest customers"},
    "drift_written": {"fr": "Rapport écrit dans {path}", "en": "Report written to {path}"},
    "metrics": {"fr": "Évaluation sur la fenêtre récente", "en": "Evaluation on the recent window"},
}

# `relance dunning` (runs, outbox, approvals, letters)
DUNNING_WORDS: dict[str, dict[str, str]] = {
    "planned": {"fr": "Actions prévues le {date}", "en": "Actions planned on {date}"},
    "dry": {"fr": "Simulation (rien n'est écrit) — actions qui seraient prévues le {date}",
            "en": "Dry run (nothing written) — actions that would be planned on {date}"},
    "summary": {"fr": "{created} action(s) créée(s), {planned} prévue(s), {reminders} relance(s) "
                      "regroupée(s), {cancelled} annulée(s), {invoices} facture(s) ouvertes vues en {seconds:.1f} s",
                "en": "{created} action(s) created, {planned} planned, {reminders} consolidated "
                      "reminder(s), {cancelled} cancelled, {invoices} open invoice(s) seen in {seconds:.1f} s"},
    "sent": {"fr": "Envoi : {sent} envoyée(s), {rendered} courrier(s) prêt(s) à imprimer et poster, "
                   "{failed} en échec, {retrying} à réessayer",
             "en": "Outbox: {sent} sent, {rendered} letter(s) ready to print and post, {failed} "
                   "failed, {retrying} to retry"},
    "error": {"fr": "Erreur", "en": "Error"},
    "pending": {"fr": "Mises en demeure et transmissions en attente d'approbation : {count}",
                "en": "Formal notices and legal hand-offs awaiting approval: {count}"},
    "approved": {"fr": "Approuvé : {count} action(s) de la relance {reminder}",
                 "en": "Approved: {count} action(s) of reminder {reminder}"},
    "rejected": {"fr": "Rejeté : {count} action(s) de la relance {reminder} annulée(s)",
                 "en": "Rejected: {count} action(s) of reminder {reminder} cancelled"},
    "posted": {"fr": "Courrier {reminder} posté le {on}", "en": "Letter {reminder} posted on {on}"},
    "delivered": {"fr": "Courrier {reminder} reçu le {on}", "en": "Letter {reminder} received on {on}"},
}

# the columns of `relance dunning` tables
DUNNING_COLUMNS_PENDING: dict[str, tuple[str, ...]] = {"fr": ("Action", "Client", "Canal", "Envoi", "Factures", "Relance"),
                   "en": ("Action", "Customer", "Channel", "Send on", "Invoices", "Reminder")}
DUNNING_COLUMNS: dict[str, tuple[str, ...]] = {"fr": ("Client", "Facture", "Étape", "Canal", "Ton", "Envoi", "Relance"),
           "en": ("Customer", "Invoice", "Step", "Channel", "Tone", "Send on", "Reminder")}
