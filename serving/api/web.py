"""The dashboard (tableau de bord): HTML shells, labels and the vendored static files.

The pages themselves are public shells: every figure on them comes from the JSON API, called by
`app.js` with the API key the user typed on /login (kept in sessionStorage), so roles apply to the
data exactly as they do for any other client. French by default, English with `?lang=en`.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates

from serving.inputs import AsOfDate as AsOf

router = APIRouter(include_in_schema=False, tags=["dashboard"])

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
STATIC_DIR = (WEB_DIR / "static").resolve()
templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))

Language = Literal["fr", "en"]
Lang = Annotated[Language | None, Query(description="fr (default) or en")]

# Every word the pages show, HTML and JavaScript alike (app.js receives the dict as JSON).
LABELS: dict[str, dict[str, str]] = {
    "title": {"fr": "Relance — tableau de bord", "en": "Relance — dashboard"},
    "nav_dashboard": {"fr": "Tableau de bord", "en": "Dashboard"},
    "nav_model": {"fr": "Modèle", "en": "Model"},
    "nav_logout": {"fr": "Se déconnecter", "en": "Log out"},
    "other_lang": {"fr": "English", "en": "Français"},
    "login_title": {"fr": "Connexion", "en": "Sign in"},
    "login_help": {"fr": "Collez votre clé API (créée avec `relance keys create --role …`). "
                         "Elle reste dans cet onglet et n'est envoyée qu'à l'API.",
                   "en": "Paste your API key (created with `relance keys create --role …`). "
                         "It stays in this tab and is only sent to the API."},
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
    "state_planned": {"fr": "Prévue", "en": "Planned"},
    "state_sent": {"fr": "Envoyée", "en": "Sent"},
    "state_failed": {"fr": "Échec", "en": "Failed"},
    "state_cancelled": {"fr": "Annulée", "en": "Cancelled"},
    "state_pending_approval": {"fr": "À approuver", "en": "Awaiting approval"},
    "state_rendered": {"fr": "Prête à poster", "en": "Ready to post"},
    "state_posted": {"fr": "Postée", "en": "Posted"},
    "state_delivered": {"fr": "Reçue", "en": "Delivered"},
    "nav_approvals": {"fr": "Approbations", "en": "Approvals"},
    "approvals_title": {"fr": "Mises en demeure et transmissions à approuver",
                        "en": "Formal notices and legal hand-offs to approve"},
    "approvals_help": {"fr": "Rien ne part sans votre accord : approuver envoie le courrier à "
                             "l'impression, rejeter l'annule. Le commentaire est gardé dans le journal.",
                       "en": "Nothing goes out without your approval: approving sends the letter "
                             "to print, rejecting cancels it. The comment is kept in the audit log."},
    "approve": {"fr": "Approuver", "en": "Approve"},
    "reject": {"fr": "Rejeter", "en": "Reject"},
    "comment": {"fr": "Commentaire", "en": "Comment"},
    "invoices_list": {"fr": "Factures", "en": "Invoices"},
    "total_open": {"fr": "Restant dû", "en": "Outstanding"},
    "decided": {"fr": "Décision enregistrée", "en": "Decision recorded"},
    "n_invoices": {"fr": "{n} facture(s)", "en": "{n} invoice(s)"},
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
    # worklist
    "worklist": {"fr": "Liste de travail", "en": "Worklist"},
    "rank": {"fr": "#", "en": "#"},
    "customer": {"fr": "Client", "en": "Customer"},
    "segment": {"fr": "Segment", "en": "Segment"},
    "grade": {"fr": "Note", "en": "Grade"},
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
    "run_state_done": {"fr": "terminée", "en": "done"},
    "run_state_failed": {"fr": "en échec", "en": "failed"},
    "run_state_running": {"fr": "en cours", "en": "running"},
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
    "status_open": {"fr": "ouverte", "en": "open"},
    "status_overdue": {"fr": "échue", "en": "overdue"},
    "status_settled": {"fr": "réglée", "en": "settled"},
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
    "model_page": {"fr": "Modèle de retard de paiement", "en": "Late-payment model"},
    "model_info": {"fr": "Version en service", "en": "Serving version"},
    "metrics": {"fr": "Métriques du backtest", "en": "Backtest metrics"},
    "drift": {"fr": "Dérive des données", "en": "Data drift"},
    "drift_share": {"fr": "Part des variables en dérive", "en": "Share of drifted features"},
    "dataset_drift": {"fr": "Dérive globale", "en": "Dataset drift"},
    "prediction_drift": {"fr": "Dérive des prédictions", "en": "Prediction drift"},
    "drift_score": {"fr": "Score de dérive par variable", "en": "Drift score per feature"},
    "no_model": {"fr": "Aucun modèle en service : décisions selon les règles",
                 "en": "No model served: decisions from rules"},
    "model_status_loaded": {"fr": "chargé", "en": "loaded"},
    "model_status_no_model": {"fr": "aucun modèle", "en": "no model"},
    "model_status_broken": {"fr": "illisible (règles en secours)", "en": "unreadable (rules as fallback)"},
    "basis": {"fr": "Base", "en": "Basis"},
    "basis_rules": {"fr": "règles (historique du payeur)", "en": "rules (payer history)"},
    "basis_model": {"fr": "modèle", "en": "model"},
    "field_status": {"fr": "État", "en": "Status"},
    "field_version": {"fr": "Version", "en": "Version"},
    "field_detail": {"fr": "Détail", "en": "Detail"},
    "field_basis": {"fr": "Base des décisions", "en": "Decision basis"},
    "field_trained_at": {"fr": "Entraîné le", "en": "Trained at"},
    "field_train_cutoff": {"fr": "Données jusqu'au", "en": "Training cut-off"},
    "field_valid_from": {"fr": "Validation depuis", "en": "Validation from"},
    "field_n_train": {"fr": "Factures d'entraînement", "en": "Training invoices"},
    "field_n_valid": {"fr": "Factures de validation", "en": "Validation invoices"},
    "field_base_rate": {"fr": "Taux de retard de base", "en": "Base late rate"},
    "field_bundle_id": {"fr": "Identifiant", "en": "Bundle id"},
    "yes": {"fr": "oui", "en": "yes"},
    "no": {"fr": "non", "en": "no"},
    # scenario steps, channels and tones (ids from serving/data/scenarios.json)
    "step_pre_due_email": {"fr": "E-mail avant échéance", "en": "Pre-due email"},
    "step_first_reminder": {"fr": "1re relance", "en": "First reminder"},
    "step_second_reminder": {"fr": "2e relance", "en": "Second reminder"},
    "step_sms": {"fr": "SMS", "en": "SMS"},
    "step_call": {"fr": "Appel", "en": "Call"},
    "step_letter": {"fr": "Courrier", "en": "Letter"},
    "step_firm_letter": {"fr": "Courrier ferme", "en": "Firm letter"},
    "step_formal_notice": {"fr": "Mise en demeure", "en": "Formal notice"},
    "step_legal_handoff": {"fr": "Contentieux", "en": "Legal hand-off"},
    "channel_email": {"fr": "e-mail", "en": "email"},
    "channel_sms": {"fr": "SMS", "en": "SMS"},
    "channel_call": {"fr": "appel", "en": "call"},
    "channel_letter": {"fr": "courrier", "en": "letter"},
    "channel_formal_notice": {"fr": "mise en demeure", "en": "formal notice"},
    "channel_legal": {"fr": "contentieux", "en": "legal"},
    "dispute_open": {"fr": "ouvert", "en": "open"},
    "dispute_in_review": {"fr": "en examen", "en": "in review"},
    "dispute_proposed_credit_note": {"fr": "avoir proposé", "en": "credit note proposed"},
    "dispute_resolved_credit_note": {"fr": "résolu par avoir", "en": "resolved (credit note)"},
    "dispute_resolved_rejected": {"fr": "rejeté", "en": "rejected"},
    "dispute_withdrawn": {"fr": "retiré", "en": "withdrawn"},
    "promise_open": {"fr": "en cours", "en": "open"},
    "promise_kept": {"fr": "tenue", "en": "kept"},
    "promise_broken": {"fr": "non tenue", "en": "broken"},
    "promise_cancelled": {"fr": "annulée", "en": "cancelled"},
    "tone_courteous": {"fr": "courtois", "en": "courteous"},
    "tone_neutral": {"fr": "neutre", "en": "neutral"},
    "tone_firm": {"fr": "ferme", "en": "firm"},
    "tone_formal": {"fr": "solennel", "en": "formal"},
}
# the order of the dunning funnel: how far along a scenario a step sits
STEP_ORDER = ["pre_due_email", "first_reminder", "second_reminder", "sms", "call", "letter",
              "firm_letter", "formal_notice", "legal_handoff"]


def labels(language: Language) -> dict[str, str]:
    """The labels of one language (French for any missing English word)."""
    return {key: words.get(language) or words["fr"] for key, words in LABELS.items()}


def _language(request: Request, lang: Language | None) -> Language:
    if lang is not None:
        return lang
    default = getattr(request.app.state.settings, "language", "fr")
    return "en" if default == "en" else "fr"


def _page(request: Request, template: str, lang: Language | None, **context: object) -> HTMLResponse:
    language = _language(request, lang)
    words = labels(language)
    # the app may pin "today" (demo, tests); reports default to it so the page matches the worklist
    today = getattr(request.app.state, "today", None) or dt.date.today()
    config = {"lang": language, "labels": words, "api": "/api/v1", "step_order": STEP_ORDER,
              "as_of": (context.pop("as_of", None) or today).isoformat(), **context}
    return templates.TemplateResponse(request, template, {
        "lang": language, "L": words, "other_lang": "fr" if language == "en" else "en",
        "config_json": _config_json(config),
        **context})


def _config_json(config: dict) -> str:
    # inside <script>: "</" would end the element early, "<\/" is the same string to JSON
    return json.dumps(config, ensure_ascii=False).replace("</", "<\\/")


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, lang: Lang = None, as_of: AsOf = None) -> HTMLResponse:
    """The dashboard: KPIs, charts and the worklist."""
    return _page(request, "dashboard.html", lang, page="dashboard", as_of=as_of)


@router.get("/login", response_class=HTMLResponse)
def login(request: Request, lang: Lang = None) -> HTMLResponse:
    """The sign-in form (the key is checked against the API by app.js)."""
    return _page(request, "login.html", lang, page="login")


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(customer_id: str, request: Request, lang: Lang = None) -> HTMLResponse:
    """One customer: invoices, payment history, risk, actions, disputes, promises."""
    return _page(request, "customer.html", lang, page="customer", customer_id=customer_id)


@router.get("/approvals", response_class=HTMLResponse)
def approvals_page(request: Request, lang: Lang = None) -> HTMLResponse:
    """The approval queue: formal notices and legal hand-offs waiting for a person."""
    return _page(request, "approvals.html", lang, page="approvals")


@router.get("/model", response_class=HTMLResponse)
def model_page(request: Request, lang: Lang = None) -> HTMLResponse:
    """The serving model: version, backtest metrics, drift."""
    return _page(request, "model.html", lang, page="model")


@router.get("/static/{path:path}")
def static(path: str) -> FileResponse:
    """A file of serving/web/static (the vendored Chart.js, app.js, style.css)."""
    target = (STATIC_DIR / path).resolve()
    # no "..", no symlink out of the folder
    if not target.is_relative_to(STATIC_DIR) or not target.is_file():
        raise HTTPException(404, f"no static file {path!r}")
    return FileResponse(target, headers={"Cache-Control": "no-cache"})
