"""The one catalogue of words a person reads: page words (`UI`) and a label for every code
(`CODES`: segments, dispute reasons, invoice kinds, actions and steps, states, channels, tones,
call outcomes, model fields…), French first, English with `?lang=en`.

No raw code reaches a person: pages ask `label(kind, code, lang)` (or the flattened
`catalogue(lang)` that app.js receives), and a code the catalogue does not know is shown as
words (underscores become spaces) rather than as an identifier. Money, numbers and dates are written by
serving/money.py (Babel), for the pages too (`POST /formats`) — `tests/serving/test_labels.py`
checks that every code the system can produce has a real label.
"""
from __future__ import annotations

from typing import Literal

from ledger.config import get_settings
from serving.words.cli import (
    DUNNING_COLUMNS,
    DUNNING_COLUMNS_PENDING,
    DUNNING_WORDS,
    FEC_WORDS,
    FX_WORDS,
    MESSAGES,
    MODEL_WORDS,
)
from serving.words.run import RUN_WARNINGS, RunWarning, run_warning

__all__ = ["CODES", "DUNNING_COLUMNS", "DUNNING_COLUMNS_PENDING", "DUNNING_WORDS", "FEC_WORDS",
           "FX_WORDS", "MESSAGES", "MODEL_WORDS", "RUN_WARNINGS", "UI", "RunWarning", "catalogue",
           "humanise", "label", "language_of", "run_warning", "t", "ui"]

Language = Literal["fr", "en"]

# Every word the pages show, HTML and JavaScript alike (app.js receives the dict as JSON).
UI: dict[str, dict[str, str]] = {
    "title": {"fr": "Relance — tableau de bord", "en": "Relance — dashboard"},
    "nav_dashboard": {"fr": "Tableau de bord", "en": "Dashboard"},
    "nav_model": {"fr": "Modèle", "en": "Model"},
    "nav_logout": {"fr": "Se déconnecter", "en": "Log out"},
    "other_lang": {"fr": "English", "en": "Français"},
    "login_title": {"fr": "Connexion", "en": "Sign in"},
    "login_help": {"fr": "Collez votre clé API (créée avec `relance keys create --role …`). "
                         "Elle n'est envoyée qu'une fois : le serveur ouvre une session de 8 heures, "
                         "gardée dans un cookie que les scripts de la page ne peuvent pas lire.",
                   "en": "Paste your API key (created with `relance keys create --role …`). "
                         "It is sent once: the server opens an 8-hour session, kept in a cookie "
                         "the page's scripts cannot read."},
    "api_key": {"fr": "Clé API", "en": "API key"},
    "login_button": {"fr": "Se connecter", "en": "Sign in"},
    "login_bad_key": {"fr": "Clé inconnue ou révoquée.", "en": "Unknown or revoked key."},
    "login_error": {"fr": "Connexion impossible : le serveur ne répond pas.",
                    "en": "Cannot sign in: the server does not answer."},
    "as_of": {"fr": "Au", "en": "As of"},
    "refresh": {"fr": "Actualiser", "en": "Refresh"},
    "loading": {"fr": "Chargement…", "en": "Loading…"},
    "unavailable": {"fr": "Indisponible pour le moment", "en": "Unavailable for now"},
    "forbidden": {"fr": "Votre rôle ne donne pas accès à ces données",
                  "en": "Your role does not give access to this data"},
    "no_data": {"fr": "Pas encore de données", "en": "No data yet"},
    # KPI tiles
    "kpis": {"fr": "Indicateurs clés", "en": "Key indicators"},
    "kpi_dso": {"fr": "DSO", "en": "DSO"},
    "kpi_best_dso": {"fr": "DSO optimal", "en": "Best possible DSO"},
    "kpi_add": {"fr": "Retard moyen (ADD)", "en": "Average days delinquent"},
    "kpi_cei": {"fr": "CEI (dernier mois)", "en": "CEI (last month)"},
    "kpi_receivables": {"fr": "Encours clients", "en": "Receivables"},
    "kpi_overdue_rate": {"fr": "Part échue", "en": "Overdue share"},
    "kpi_recovery": {"fr": "Taux de recouvrement", "en": "Recovery rate"},
    "days": {"fr": "jours", "en": "days"},
    # charts
    "chart_dso": {"fr": "Évolution du DSO", "en": "DSO trend"},
    "dso_standard": {"fr": "DSO (méthode standard)", "en": "DSO (standard)"},
    "dso_count_back": {"fr": "DSO (épuisement)", "en": "DSO (count-back)"},
    "dso_best": {"fr": "DSO optimal", "en": "Best possible DSO"},
    "chart_aging": {"fr": "Balance âgée", "en": "Ageing balance"},
    "bucket_not_due": {"fr": "Non échu", "en": "Not due"},
    "bucket_days": {"fr": "{b} j", "en": "{b} d"},
    "amount": {"fr": "Montant", "en": "Amount"},
    "chart_forecast": {"fr": "Prévision d'encaissements (13 semaines)",
                       "en": "Cash-in forecast (13 weeks)"},
    "expected": {"fr": "Attendu", "en": "Expected"},
    "low": {"fr": "Bas", "en": "Low"},
    "high": {"fr": "Haut", "en": "High"},
    "week": {"fr": "S", "en": "W"},
    "source_rules": {"fr": "selon les règles (historique des payeurs)",
                     "en": "from rules (payer histories)"},
    "source_model": {"fr": "selon le modèle", "en": "from the model"},
    "chart_funnel": {"fr": "Relances par étape", "en": "Dunning actions by step"},
    "chart_effectiveness": {"fr": "Efficacité des relances (part payée après l'étape)",
                            "en": "Dunning effectiveness (share paid after the step)"},
    "within": {"fr": "sous {w} j", "en": "within {w} d"},
    "chart_risk": {"fr": "Répartition du risque (clients avec encours)",
                   "en": "Risk distribution (customers with open invoices)"},
    "customers_count": {"fr": "Clients", "en": "Customers"},
    "value_at_risk_30": {"fr": "Non encaissé attendu à 30 j", "en": "Expected uncollected, 30 d"},
    "value_at_risk_90": {"fr": "Non encaissé attendu à 90 j", "en": "Expected uncollected, 90 d"},
    "value_at_risk_90_in": {"fr": "Non encaissé attendu à 90 j ({currency})",
                            "en": "Expected uncollected within 90 d ({currency})"},
    "value_at_risk_help": {"fr": "Somme des restes dus × probabilité de ne pas être payé dans le délai ; "
                                 "jamais plus que le reste dû",
                           "en": "Sum of open amounts × probability of not being paid within the horizon; "
                                 "never more than what is owed"},
    "worklist_help": {"fr": "Classée par montant attendu non encaissé à 90 jours (en devise de reporting) ; "
                            "l'urgence (jours de retard, promesses non tenues) est montrée à côté. "
                            "Montants dans la devise du client.",
                      "en": "Ranked by the amount expected not collected within 90 days (in the reporting "
                            "currency); urgency (days overdue, broken promises) is shown beside it. "
                            "Amounts in the customer's currency."},
    "broken_promises": {"fr": "Promesses non tenues", "en": "Broken promises"},
    "in_currency": {"fr": "Totaux en {currency}", "en": "Totals in {currency}"},
    "rates_of": {"fr": "taux BCE du {date}", "en": "ECB rates of {date}"},
    "unconverted": {"fr": "sans taux, hors totaux : {currencies}", "en": "no rate, left out of totals: {currencies}"},
    "to_date": {"fr": "à date", "en": "to date"},
    "to_date_until": {"fr": "mois en cours, au {date}", "en": "month to date, {date}"},
    "kpi_cei_to_date": {"fr": "CEI (mois en cours)", "en": "CEI (month to date)"},
    "credit_alerts": {"fr": "Plafonds de crédit", "en": "Credit limits"},
    "credit_alerts_help": {"fr": "Clients au-delà de leur plafond ou à 80 % et plus (encours : factures ouvertes, "
                                 "dans la devise du client)",
                           "en": "Customers over their limit or at 80 % of it and more (exposure: open invoices, "
                                 "in the customer's currency)"},
    "credit_over": {"fr": "dépassé", "en": "over"},
    "credit_warning": {"fr": "≥ 80 %", "en": "≥ 80 %"},
    "credit_ok": {"fr": "sous le plafond", "en": "under the limit"},
    "credit_no_limit": {"fr": "sans plafond", "en": "no limit"},
    "exposure": {"fr": "Encours", "en": "Exposure"},
    "usage": {"fr": "Utilisation", "en": "Usage"},
    "exposure_vs_limit": {"fr": "Encours / plafond", "en": "Exposure / limit"},
    "headroom": {"fr": "Marge restante", "en": "Headroom"},
    "of_limit": {"fr": "du plafond", "en": "of the limit"},
    "currency": {"fr": "Devise", "en": "Currency"},
    "statement_pdf": {"fr": "Relevé de compte (PDF)", "en": "Statement (PDF)"},
    "statement_csv": {"fr": "Relevé de compte (CSV)", "en": "Statement (CSV)"},
    "value_at_risk": {"fr": "Montant à risque", "en": "Value at risk"},
    # worklist
    "worklist": {"fr": "Liste de travail", "en": "Worklist"},
    "rank": {"fr": "#", "en": "#"},
    "customer": {"fr": "Client", "en": "Customer"},
    "segment": {"fr": "Segment", "en": "Segment"},
    "grade": {"fr": "Note", "en": "Grade"},
    # the worklist's grade: the score grade (one A–E scale) of the customer's worst open invoice;
    # the customer page shows the customer's own score grade, which may be better
    "grade_worst": {"fr": "Note (pire facture)", "en": "Grade (worst invoice)"},
    "p_late": {"fr": "Prob. retard", "en": "P(late)"},
    "open_amount": {"fr": "Encours", "en": "Open"},
    "overdue_amount": {"fr": "Échu", "en": "Overdue"},
    "days_overdue": {"fr": "Jours de retard", "en": "Days overdue"},
    "next_action": {"fr": "Prochaine action", "en": "Next action"},
    "agent": {"fr": "Chargé", "en": "Agent"},
    "reasons": {"fr": "Raisons", "en": "Reasons"},
    # customer page
    "customer_page": {"fr": "Fiche client", "en": "Customer"},
    "back": {"fr": "← Tableau de bord", "en": "← Dashboard"},
    "profile": {"fr": "Profil", "en": "Profile"},
    "customer_status": {"fr": "Statut", "en": "Status"},
    # the scheduled daily run (serving.schedule)
    "last_run": {"fr": "Dernière relance automatique", "en": "Last scheduled dunning run"},
    "no_scheduled_run": {"fr": "Aucune exécution planifiée pour l'instant (relance serve / relance worker).",
                         "en": "No scheduled run yet (relance serve / relance worker)."},
    "run_date": {"fr": "Date", "en": "Date"},
    "run_state": {"fr": "État", "en": "State"},
    "run_created": {"fr": "Actions créées", "en": "Actions created"},
    "run_reminders": {"fr": "Relances regroupées", "en": "Consolidated reminders"},
    "run_sent": {"fr": "Envoyées", "en": "Sent"},
    "run_warnings": {"fr": "Avertissements", "en": "Warnings"},
    "run_schedule": {"fr": "Planification", "en": "Schedule"},
    "terms": {"fr": "Délai de paiement", "en": "Payment terms"},
    "credit_limit": {"fr": "Plafond de crédit", "en": "Credit limit"},
    "scenario": {"fr": "Scénario", "en": "Scenario"},
    "email": {"fr": "E-mail", "en": "Email"},
    "phone": {"fr": "Téléphone", "en": "Phone"},
    "open_invoices": {"fr": "Factures ouvertes", "en": "Open invoices"},
    "risk": {"fr": "Risque", "en": "Risk"},
    "score": {"fr": "Score", "en": "Score"},
    "expected_days_late": {"fr": "Retard attendu (jours)", "en": "Expected days late"},
    "model_version": {"fr": "Version du modèle", "en": "Model version"},
    "history": {"fr": "Historique de paiement (jours de retard par facture réglée)",
                "en": "Payment history (days late per settled invoice)"},
    "days_late": {"fr": "Jours de retard", "en": "Days late"},
    "invoices": {"fr": "Factures", "en": "Invoices"},
    "invoice": {"fr": "Facture", "en": "Invoice"},
    "issue_date": {"fr": "Émise le", "en": "Issued"},
    "due_date": {"fr": "Échéance", "en": "Due"},
    "settled_on": {"fr": "Réglée le", "en": "Settled"},
    "status": {"fr": "Statut", "en": "Status"},
    "actions": {"fr": "Actions de relance", "en": "Dunning actions"},
    "send_on": {"fr": "Date", "en": "Date"},
    "step": {"fr": "Étape", "en": "Step"},
    "channel": {"fr": "Canal", "en": "Channel"},
    "tone": {"fr": "Ton", "en": "Tone"},
    "state": {"fr": "État", "en": "State"},
    "disputes": {"fr": "Litiges", "en": "Disputes"},
    "opened_on": {"fr": "Ouvert le", "en": "Opened"},
    "reason": {"fr": "Motif", "en": "Reason"},
    "promises": {"fr": "Promesses de paiement", "en": "Promises to pay"},
    "promised_on": {"fr": "Promis pour le", "en": "Promised for"},
    "notes": {"fr": "Notes", "en": "Notes"},
    "none": {"fr": "Aucun élément", "en": "Nothing"},
    # model page
    "model_page": {"fr": "Modèle de délai de paiement", "en": "Time-to-payment model"},
    # reminder-policy evaluation (docs/policy.md): the model page's panel and `relance policy`
    "policy_panel": {"fr": "Politique de relance : évaluation hors ligne", "en": "Reminder policy: off-policy evaluation"},
    "policy_none": {"fr": "Aucune évaluation enregistrée (relance policy evaluate --save).",
                    "en": "No stored evaluation (relance policy evaluate --save)."},
    "policy_error": {"fr": "Erreur :", "en": "Error:"},
    "policy_no_dir": {"fr": "ce n'est pas un répertoire", "en": "not a directory"},
    "policy_evaluating": {"fr": "Évaluation de la politique", "en": "Evaluating the policy"},
    "policy_estimator": {"fr": "Estimateur", "en": "Estimator"},
    "policy_value": {"fr": "Valeur", "en": "Value"},
    "policy_logged": {"fr": "Politique journalisée (observé)", "en": "Logged policy (observed)"},
    "policy_ips": {"fr": "IPS (pondération inverse)", "en": "IPS (inverse propensity)"},
    "policy_snips": {"fr": "IPS auto-normalisé", "en": "Self-normalised IPS"},
    "policy_dr": {"fr": "Doublement robuste", "en": "Doubly robust"},
    "policy_dr_ci": {"fr": "Intervalle à 95 % (doublement robuste)", "en": "95 % interval (doubly robust)"},
    "policy_simulated": {"fr": "Valeur réelle (simulateur, rejouée)", "en": "True value (simulator, replayed)"},
    "policy_simulated_logged": {"fr": "Politique journalisée rejouée (simulateur)", "en": "Logged policy replayed (simulator)"},
    "policy_candidate_learned": {"fr": "Politique apprise (modèle d'effet des relances)",
                                 "en": "Learned policy (reminder-effect model)"},
    "policy_gain_low": {"fr": "Borne basse du gain estimé :", "en": "Lower bound of the estimated gain:"},
    "policy_saved": {"fr": "Évaluation enregistrée : n° {id} (relance policy activate {id})",
                     "en": "Evaluation stored: #{id} (relance policy activate {id})"},
    "policy_activated": {"fr": "Politique n° {id} ({candidate}) activée", "en": "Policy #{id} ({candidate}) activated"},
    "policy_id": {"fr": "N°", "en": "#"},
    "policy_candidate": {"fr": "Candidate", "en": "Candidate"},
    "policy_metric": {"fr": "Mesure", "en": "Metric"},
    "policy_state": {"fr": "État", "en": "State"},
    "policy_n": {"fr": "Décisions évaluées", "en": "Decisions evaluated"},
    "policy_state_evaluated": {"fr": "évaluée", "en": "evaluated"},
    "policy_state_active": {"fr": "active", "en": "active"},
    "policy_state_retired": {"fr": "retirée", "en": "retired"},
    "policy_metric_paid_14": {"fr": "part payée sous 14 jours", "en": "share paid within 14 days"},
    "policy_metric_days_60": {"fr": "jours jusqu'au paiement (plafond 60)", "en": "days to payment (capped at 60)"},
    "policy_activate": {"fr": "Activer cette politique", "en": "Switch this policy on"},
    "policy_cannot_activate": {"fr": "Activation impossible : la borne basse du gain n'est pas au-dessus de zéro.",
                               "en": "Cannot be switched on: the gain's lower bound is not above zero."},
    "model_info": {"fr": "Version en service", "en": "Serving version"},
    "metrics": {"fr": "Métriques du backtest", "en": "Backtest metrics"},
    "drift": {"fr": "Dérive et recalibrage", "en": "Drift and recalibration"},
    "retrain": {"fr": "Réentraîner ?", "en": "Retrain?"},
    "retrain_yes": {"fr": "recommandé", "en": "recommended"},
    "retrain_no": {"fr": "pas nécessaire", "en": "not needed"},
    "calibration_since": {"fr": "Factures échues depuis l'entraînement",
                          "en": "Invoices due since training"},
    "drift_share": {"fr": "Part des variables en dérive", "en": "Share of drifted features"},
    "dataset_drift": {"fr": "Dérive globale", "en": "Dataset drift"},
    "prediction_drift": {"fr": "Dérive des prédictions", "en": "Prediction drift"},
    "drift_score": {"fr": "Score de dérive par variable", "en": "Drift score per feature"},
    "no_model": {"fr": "Aucun modèle en service : décisions selon les règles",
                 "en": "No model served: decisions from rules"},
    "basis": {"fr": "Base", "en": "Basis"},
    "yes": {"fr": "oui", "en": "yes"},
    "no": {"fr": "non", "en": "no"},
}

UI.update({
    # navigation and pages of the workbench
    "nav_worklist": {"fr": "Liste de travail", "en": "Worklist"},
    "nav_approvals": {"fr": "Validations", "en": "Approvals"},
    "nav_manager": {"fr": "Pilotage", "en": "Management"},
    "skip_to_content": {"fr": "Aller au contenu", "en": "Skip to content"},
    "signed_in_as": {"fr": "Connecté : {name} ({role})", "en": "Signed in: {name} ({role})"},
    "filters": {"fr": "Filtres", "en": "Filters"},
    "search": {"fr": "Rechercher (nom ou identifiant)", "en": "Search (name or id)"},
    "all": {"fr": "Tous", "en": "All"},
    "any": {"fr": "Indifférent", "en": "Any"},
    "with": {"fr": "Avec", "en": "With"},
    "without": {"fr": "Sans", "en": "Without"},
    "bucket": {"fr": "Ancienneté du retard", "en": "Ageing bucket"},
    "open_dispute": {"fr": "Litige en cours", "en": "Open dispute"},
    "open_promise": {"fr": "Promesse en cours", "en": "Open promise"},
    "apply": {"fr": "Appliquer", "en": "Apply"},
    "reset": {"fr": "Réinitialiser", "en": "Reset"},
    "export_csv": {"fr": "Exporter (CSV Excel)", "en": "Export (Excel CSV)"},
    "previous": {"fr": "← Précédents", "en": "← Previous"},
    "next": {"fr": "Suivants →", "en": "Next →"},
    "page_n": {"fr": "Page {n}", "en": "Page {n}"},
    "last_contact": {"fr": "Dernier contact", "en": "Last contact"},
    "mixed_currencies": {"fr": "plusieurs devises", "en": "several currencies"},
    "no_results": {"fr": "Aucun client ne correspond à ces filtres.", "en": "No customer matches these filters."},
    "empty_portfolio": {
        "fr": "Votre portefeuille est vide : aucun client avec des factures ouvertes n'est affecté à « {name} », "
              "le nom de votre clé API.",
        "en": "Your portfolio is empty: no customer with open invoices is assigned to “{name}”, the name of your API key."},
    "empty_portfolio_how": {
        "fr": "Pour en recevoir un, demandez à un responsable (rôle analyste ou administrateur) de vous affecter des "
              "clients : depuis la fiche client (bloc « Affecter »), ou par l'API POST /api/v1/worklist/assignments "
              "avec l'agent « {name} ».",
        "en": "To get one, ask a manager (analyst or admin role) to assign customers to you: from the customer page "
              "(“Assign” box), or through the API POST /api/v1/worklist/assignments with agent “{name}”."},
    "key_without_name": {"fr": "(clé sans nom : préfixe {prefix})", "en": "(unnamed key: prefix {prefix})"},
    # customer page actions
    "do": {"fr": "Agir", "en": "Act"},
    "log_call": {"fr": "Noter un appel", "en": "Log a call"},
    "outcome": {"fr": "Résultat", "en": "Outcome"},
    "about_invoice": {"fr": "Facture concernée (facultatif)", "en": "Invoice concerned (optional)"},
    "whole_account": {"fr": "Tout le compte", "en": "Whole account"},
    "note": {"fr": "Note", "en": "Note"},
    "save": {"fr": "Enregistrer", "en": "Save"},
    "record_promise": {"fr": "Enregistrer une promesse", "en": "Record a promise"},
    "promise_date": {"fr": "Date promise", "en": "Promised date"},
    "instalments": {"fr": "Échéancier (plusieurs dates)", "en": "Instalment plan (several dates)"},
    "add_instalment": {"fr": "Ajouter une échéance", "en": "Add an instalment"},
    "open_dispute_form": {"fr": "Ouvrir un litige", "en": "Open a dispute"},
    "disputed_invoices": {"fr": "Factures contestées", "en": "Disputed invoices"},
    "comment": {"fr": "Commentaire", "en": "Comment"},
    "move_dispute": {"fr": "Faire avancer", "en": "Move on"},
    "new_status": {"fr": "Nouveau statut", "en": "New status"},
    "keep_status": {"fr": "(inchangé : commentaire seul)", "en": "(unchanged: comment only)"},
    "credit_amount": {"fr": "Montant de l'avoir (facultatif)", "en": "Credit note amount (optional)"},
    "add_note": {"fr": "Ajouter une note", "en": "Add a note"},
    "assign": {"fr": "Affecter", "en": "Assign"},
    "assign_to": {"fr": "Chargé de recouvrement (nom de sa clé)", "en": "Collection agent (their key's name)"},
    "unassigned": {"fr": "non affecté", "en": "unassigned"},
    "hold": {"fr": "Mettre en attente", "en": "Put on hold"},
    "hold_reason": {"fr": "Motif de l'attente", "en": "Reason for the hold"},
    "hold_until": {"fr": "Jusqu'au (inclus)", "en": "Until (inclusive)"},
    "release_hold": {"fr": "Lever l'attente", "en": "Release the hold"},
    "on_hold": {"fr": "En attente", "en": "On hold"},
    "next_reminder": {"fr": "Prochaine relance", "en": "Next reminder"},
    "preview": {"fr": "Aperçu tel qu'envoyé", "en": "Preview as sent"},
    "subject": {"fr": "Objet", "en": "Subject"},
    "pdf_letter": {"fr": "Courrier PDF", "en": "PDF letter"},
    "no_next_reminder": {"fr": "Aucune relance prévue.", "en": "No reminder planned."},
    "tomorrow_run": {"fr": "Ce que fera la relance de demain", "en": "What tomorrow's run will do"},
    "tomorrow_none": {"fr": "Rien : aucune action ne serait prévue pour ce client le {date}.",
                      "en": "Nothing: no action would be planned for this customer on {date}."},
    "dry_run_date": {"fr": "Date de la simulation", "en": "Date of the dry run"},
    "simulate": {"fr": "Simuler", "en": "Simulate"},
    "statement": {"fr": "Relevé de compte", "en": "Statement of account"},
    "download_pdf": {"fr": "Télécharger (PDF)", "en": "Download (PDF)"},
    "download_csv": {"fr": "Télécharger (CSV)", "en": "Download (CSV)"},
    "not_available_yet": {"fr": "Pas encore disponible sur ce serveur.", "en": "Not available on this server yet."},
    "saved": {"fr": "Enregistré.", "en": "Saved."},
    "by": {"fr": "par", "en": "by"},
    "calls": {"fr": "Appels", "en": "Calls"},
    "select_invoices": {"fr": "Cochez au moins une facture.", "en": "Tick at least one invoice."},
    # errors from the API, in the page's language
    "err_422": {"fr": "Saisie refusée", "en": "Input refused"},
    "err_field": {"fr": "{field} : valeur refusée", "en": "{field}: value refused"},
    "err_404": {"fr": "Introuvable (ou hors de votre portefeuille).", "en": "Not found (or outside your portfolio)."},
    "err_403": {"fr": "Votre rôle ne permet pas cette action.", "en": "Your role does not allow this action."},
    "err_409": {"fr": "Impossible dans l'état actuel (déjà traité ou transition interdite).",
                "en": "Not possible in the current state (already handled or transition not allowed)."},
    "err_other": {"fr": "Le serveur n'a pas pu traiter la demande (code {status}).",
                  "en": "The server could not process the request (code {status})."},
    "err_network": {"fr": "Le serveur ne répond pas.", "en": "The server does not answer."},
    # approvals
    "approvals_page": {"fr": "Actions à valider", "en": "Actions awaiting approval"},
    "approvals_help": {"fr": "Mises en demeure et transmissions au contentieux : elles ne partent qu'après validation.",
                       "en": "Formal notices and legal hand-offs: they go out only once approved."},
    "approve": {"fr": "Valider", "en": "Approve"},
    "reject": {"fr": "Refuser", "en": "Reject"},
    "letter": {"fr": "Courrier", "en": "Letter"},
    "nothing_to_approve": {"fr": "Rien à valider.", "en": "Nothing to approve."},
    "approved": {"fr": "Validée.", "en": "Approved."},
    "rejected": {"fr": "Refusée.", "en": "Rejected."},
    # manager views
    "manager_page": {"fr": "Pilotage du recouvrement", "en": "Collections management"},
    "aging_by_customer": {"fr": "Balance âgée par client", "en": "Ageing by customer"},
    "top_debtors": {"fr": "Principaux débiteurs", "en": "Top debtors"},
    "disputes_by_reason": {"fr": "Litiges par motif et ancienneté", "en": "Disputes by reason and age"},
    "agent_activity": {"fr": "Activité des chargés (30 derniers jours)", "en": "Agent activity (last 30 days)"},
    "promises_obtained": {"fr": "Promesses obtenues", "en": "Promises obtained"},
    "promises_kept": {"fr": "Promesses tenues", "en": "Promises kept"},
    "collected_14d": {"fr": "Encaissé sous 14 j après un contact", "en": "Collected within 14 d of a contact"},
    "notes_count": {"fr": "Notes", "en": "Notes"},
    "total": {"fr": "Total", "en": "Total"},
    "count": {"fr": "Nombre", "en": "Count"},
    "average_age": {"fr": "Âge moyen (jours)", "en": "Average age (days)"},
    "open_count": {"fr": "En cours", "en": "Open"},
    "average_resolution": {"fr": "Délai moyen de résolution (jours)", "en": "Average time to resolve (days)"},
    "show_invoices": {"fr": "Voir les factures", "en": "Show invoices"},
    "kind": {"fr": "Type", "en": "Kind"},
    "open_converted": {"fr": "Encours converti en {currency}", "en": "Open, converted to {currency}"},
    "by_currency": {"fr": "Par devise", "en": "By currency"},
    # a step of an imported history, numbered by the system that sent it
    "step_number": {"fr": "Relance n° {n}", "en": "Reminder no. {n}"},
    "p_unpaid_90": {"fr": "Prob. impayé à 90 j", "en": "P(unpaid at 90 d)"},
    "more_invoices": {"fr": "et {n} autre(s)", "en": "and {n} more"},
})

# code → (French, English), by kind of code
CODES: dict[str, dict[str, tuple[str, str]]] = {
    "segment": {
        "sme": ("PME", "SME"), "mid_market": ("ETI", "Mid-market"), "public": ("Secteur public", "Public sector"),
        "enterprise": ("Grand compte", "Enterprise"), "key_account": ("Grand compte", "Key account"),
        "high_risk": ("Risque élevé", "High risk"), "pme": ("PME", "SME"), "ge": ("Grande entreprise", "Large company"),
    },
    "reason": {  # dispute reasons: the API's and the synthetic ledger's
        "price": ("Prix contesté", "Price disputed"), "pricing": ("Tarif contesté", "Pricing disputed"),
        "quantity": ("Quantité contestée", "Quantity disputed"), "quality": ("Défaut de qualité", "Quality issue"),
        "not_delivered": ("Marchandise ou prestation non livrée", "Goods or service not delivered"),
        "delivery": ("Problème de livraison", "Delivery problem"),
        "duplicate_invoice": ("Facture en double", "Duplicate invoice"),
        "already_paid": ("Facture déjà payée", "Invoice already paid"),
        "missing_po": ("Bon de commande manquant", "Missing purchase order"),
        "other": ("Autre motif", "Other reason"),
    },
    "kind": {"invoice": ("Facture", "Invoice"), "credit_note": ("Avoir", "Credit note"),
             "penalty": ("Facture de pénalités", "Penalty invoice"),
             "penalty_invoice": ("Facture de pénalités", "Penalty invoice")},
    "action": {"wait": ("Attendre", "Wait"), "email": ("E-mail", "Email"), "sms": ("SMS", "SMS"),
               "call": ("Appel", "Call"), "letter": ("Courrier", "Letter"),
               "formal_notice": ("Mise en demeure", "Formal notice"), "legal": ("Contentieux", "Legal action")},
    "channel": {"email": ("e-mail", "email"), "sms": ("SMS", "SMS"), "call": ("appel", "call"),
                "letter": ("courrier", "letter"), "formal_notice": ("mise en demeure", "formal notice"),
                "legal": ("contentieux", "legal")},
    "step": {"pre_due_email": ("E-mail avant échéance", "Pre-due email"),
             "first_reminder": ("1re relance", "First reminder"), "second_reminder": ("2e relance", "Second reminder"),
             "sms": ("SMS", "SMS"), "call": ("Appel", "Call"), "letter": ("Courrier", "Letter"),
             "firm_letter": ("Courrier ferme", "Firm letter"), "formal_notice": ("Mise en demeure", "Formal notice"),
             "legal_handoff": ("Contentieux", "Legal hand-off")},
    "tone": {"courteous": ("courtois", "courteous"), "neutral": ("neutre", "neutral"), "firm": ("ferme", "firm"),
             "formal": ("solennel", "formal")},
    "state": {"planned": ("Prévue", "Planned"), "pending_approval": ("À valider", "Awaiting approval"),
              "rendered": ("Prête à imprimer", "Ready to print"), "sent": ("Envoyée", "Sent"),
              "posted": ("Postée", "Posted"), "delivered": ("Distribuée", "Delivered"),
              "failed": ("Échec", "Failed"), "cancelled": ("Annulée", "Cancelled"), "rejected": ("Refusée", "Rejected")},
    "dispute": {"open": ("ouvert", "open"), "in_review": ("en examen", "in review"),
                "proposed_credit_note": ("avoir proposé", "credit note proposed"),
                "resolved_credit_note": ("résolu par avoir", "resolved (credit note)"),
                "resolved_rejected": ("rejeté", "rejected"), "withdrawn": ("retiré", "withdrawn"),
                # a history imported before the workflow's statuses (the synthetic ledger's)
                "resolved": ("résolu", "resolved")},
    "promise": {"open": ("en cours", "open"), "kept": ("tenue", "kept"), "broken": ("non tenue", "broken"),
                "cancelled": ("annulée", "cancelled")},
    "status": {"open": ("ouverte", "open"), "overdue": ("échue", "overdue"), "settled": ("réglée", "settled"),
               "credit_note": ("avoir", "credit note")},
    "outcome": {"reached_promised": ("Joint : promet de payer", "Reached: promised to pay"),
                "reached_refused": ("Joint : refuse de payer", "Reached: refuses to pay"),
                "reached_disputed": ("Joint : conteste", "Reached: disputes"),
                "no_answer": ("Pas de réponse", "No answer"), "wrong_number": ("Mauvais numéro", "Wrong number"),
                "left_message": ("Message laissé", "Left a message"),
                "reached": ("Joint", "Reached")},
    "bucket": {"not_due": ("Non échu", "Not due"), "1-30": ("1 à 30 j", "1–30 d"), "31-60": ("31 à 60 j", "31–60 d"),
               "61-90": ("61 à 90 j", "61–90 d"), "90+": ("Plus de 90 j", "Over 90 d"),
               "91-180": ("91 à 180 j", "91–180 d"), "180+": ("Plus de 180 j", "Over 180 d")},
    "role": {"admin": ("administrateur", "admin"), "analyst": ("analyste", "analyst"),
             "agent": ("chargé de recouvrement", "collection agent"), "billing": ("facturation", "billing")},
    "customer_type": {"business": ("professionnel", "business"), "consumer": ("particulier", "consumer"),
                      "public_sector": ("acheteur public", "public buyer")},
    "scenario": {"standard": ("Standard B2B", "Standard B2B"), "gentle": ("Grands comptes (relance douce)", "Key accounts (gentle)"),
                 "strict": ("Relance stricte", "Strict"),
                 "key_account": ("Grands comptes", "Key accounts"), "enterprise": ("Grandes entreprises", "Enterprises"),
                 "high_risk": ("Risque élevé", "High risk")},
    "run_state": {"done": ("terminée", "done"), "failed": ("en échec", "failed"), "running": ("en cours", "running")},
    "contact": {"reminder": ("Relance", "Reminder"), "call": ("Appel", "Call"), "note": ("Note", "Note")},
    "model_status": {"loaded": ("chargé", "loaded"), "no_model": ("aucun modèle", "no model"),
                     "broken": ("illisible (règles en secours)", "unreadable (rules as fallback)")},
    "basis": {"rules": ("règles (historique du payeur)", "rules (payer history)"), "model": ("modèle", "model")},
    "field": {"status": ("État", "Status"), "version": ("Version", "Version"), "detail": ("Détail", "Detail"),
              "basis": ("Base des décisions", "Decision basis"), "trained_at": ("Entraîné le", "Trained at"),
              "train_cutoff": ("Données jusqu'au", "Training cut-off"),
              "valid_from": ("Validation depuis", "Validation from"),
              "n_train": ("Factures d'entraînement", "Training invoices"),
              "n_valid": ("Factures de validation", "Validation invoices"),
              "n_fit": ("Factures d'ajustement", "Fitting invoices"),
              "n_calibration": ("Factures de calibration", "Calibration invoices"),
              "n_test": ("Factures de test", "Test invoices"),
              "base_rate": ("Taux de retard de base", "Base late rate"), "bundle_id": ("Identifiant", "Bundle id"),
              "auc": ("AUC", "AUC"), "pr_auc": ("AUC précision-rappel", "PR AUC"), "brier": ("Score de Brier", "Brier score"),
              "log_loss": ("Perte logarithmique", "Log loss"), "ece": ("Erreur de calibration", "Calibration error"),
              "name": ("Nom", "Name"), "alias": ("Alias", "Alias"), "uri": ("Emplacement", "Location"),
              "customer_id": ("Client", "Customer"), "invoice_id": ("Facture", "Invoice"),
              "amount": ("Montant", "Amount"), "promised_date": ("Date promise", "Promised date"),
              "invoices": ("Factures", "Invoices"), "reason": ("Motif", "Reason"), "outcome": ("Résultat", "Outcome"),
              "note": ("Note", "Note"), "body": ("Texte", "Text"), "comment": ("Commentaire", "Comment"),
              "agent": ("Chargé", "Agent"), "customer_ids": ("Clients", "Customers"),
              "on_hold_reason": ("Motif de l'attente", "Reason for the hold"),
              "on_hold_until": ("Fin de l'attente", "End of the hold"), "on_hold": ("En attente", "On hold"),
              "credit_amount": ("Montant de l'avoir", "Credit note amount"), "date": ("Date", "Date"),
              "instalments": ("Échéances", "Instalments")},
}


def language_of(lang: str | None) -> Language:
    return "en" if lang == "en" else "fr"


def humanise(code: str) -> str:
    """A code the catalogue does not know, as words (never an identifier on a page)."""
    return code.replace("_", " ").strip().capitalize() or "—"


def label(kind: str, code: str | None, lang: str | None = "fr") -> str:
    """The label of `code` (of kind `kind`: segment, reason, step…) in the language."""
    if code is None or code == "":
        return "—"
    words = CODES.get(kind, {}).get(code)
    if words is None:
        return humanise(code)
    return words[1] if language_of(lang) == "en" else words[0]


def ui(key: str, lang: str | None = "fr", **values: object) -> str:
    words = UI[key]
    text = words.get(language_of(lang)) or words["fr"]
    return text.format(**values) if values else text


def catalogue(lang: str | None) -> dict[str, str]:
    """Every word of one language, flattened for the pages: UI keys as they are, codes as
    `kind_code` (e.g. `step_first_reminder`, `reason_pricing`)."""
    language = language_of(lang)
    flat = {key: words.get(language) or words["fr"] for key, words in UI.items()}
    for kind, codes in CODES.items():
        for code, (fr, en) in codes.items():
            flat[f"{kind}_{code}"] = en if language == "en" else fr
    return flat


def t(key: str, lang: str | None = None, **values: object) -> str:
    """A word of the command line (`MESSAGES`), in `lang` or the server's language."""
    lang = lang or get_settings().language
    text = MESSAGES[key].get(lang) or MESSAGES[key]["fr"]
    return text.format(**values) if values else text
