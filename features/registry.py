"""The feature registry: what each feature means, in French and English, for people and reasons.

``FEATURES`` maps a feature name to a :class:`Feature`. The order is the column order of
:func:`features.pipeline.build_features` (see ``FEATURE_COLUMNS``). ``fill`` is the documented
value a feature takes when it cannot be computed (a cold-start customer with no settled invoice,
no promise, no payment yet), so every value is finite; the ``*_count`` features and
``hist_cold_start`` let a model tell a filled value from a real one.

Templates are ``str.format`` strings with one field, ``{value}``; shares are fractions
(0.25 renders as "25 %" with ``{value:.0%}``).
"""
from __future__ import annotations

from dataclasses import dataclass

FAMILIES = ("history", "exposure", "behaviour", "invoice")


@dataclass(frozen=True)
class Feature:
    name: str
    family: str
    meaning: str
    label_fr: str
    label_en: str
    template_fr: str
    template_en: str
    fill: float = 0.0

    def sentence(self, value: float, language: str = "fr") -> str:
        """The reason sentence for ``value`` in ``language`` (fr, anything else is English)."""
        if language == "fr":
            return self.template_fr.format(value=_French(value))
        return self.template_en.format(value=value)


class _French(float):
    """A number that formats the French way: 1 234,5 and 25 %."""

    def __format__(self, spec: str) -> str:
        text = format(float(self), spec).replace(",", "\0").replace(".", ",").replace("\0", " ")
        return text[:-1] + " %" if text.endswith("%") else text


def _f(name: str, family: str, meaning: str, label_fr: str, label_en: str, template_fr: str,
       template_en: str, fill: float = 0.0) -> Feature:
    return Feature(name, family, meaning, label_fr, label_en, template_fr, template_en, fill)


_ALL = [
    # ---------------------------------------------------------------- payer history
    _f("hist_n_settled", "history", "Invoices of the customer settled before t.",
       "Factures réglées", "Settled invoices",
       "{value:.0f} factures déjà réglées par ce client",
       "{value:.0f} invoices already settled by this customer"),
    _f("hist_cold_start", "history", "1 when the customer has no settled invoice before t.",
       "Nouveau payeur", "New payer",
       "Aucun historique de paiement pour ce client",
       "No payment history for this customer"),
    _f("hist_share_late", "history",
       "Share of the settled invoices paid after their due date (0 when none).",
       "Part des factures payées en retard", "Share of invoices paid late",
       "A payé en retard {value:.0%} de ses factures",
       "Paid {value:.0%} of invoices late"),
    _f("hist_share_late_amount", "history",
       "Amount-weighted share of the settled invoices paid late (0 when none).",
       "Part du montant payé en retard", "Share of amount paid late",
       "{value:.0%} du montant facturé a été payé en retard",
       "{value:.0%} of the amount invoiced was paid late"),
    _f("hist_mean_days_late", "history",
       "Mean of settled − due in days over the settled invoices (negative: early).",
       "Retard moyen (jours)", "Mean days late",
       "Paie en moyenne {value:.0f} jours après l'échéance",
       "Pays on average {value:.0f} days after the due date"),
    _f("hist_median_days_late_last12", "history",
       "Median days late over the last 12 settled invoices (an approximation of the expanding "
       "median, which is not cheaply vectorised).",
       "Retard médian récent (jours)", "Recent median days late",
       "Retard médian de {value:.0f} jours sur ses 12 dernières factures",
       "Median delay of {value:.0f} days on the last 12 invoices"),
    _f("hist_max_days_late", "history", "Largest days late of a settled invoice.",
       "Retard maximal (jours)", "Longest delay (days)",
       "A déjà payé une facture {value:.0f} jours après l'échéance",
       "Once paid an invoice {value:.0f} days after the due date"),
    _f("hist_mean_days_late_last3", "history",
       "Mean days late over the last 3 settled invoices (by settlement date).",
       "Retard moyen sur les 3 dernières factures", "Mean days late, last 3 invoices",
       "Paie en moyenne {value:.0f} jours après l'échéance sur ses 3 dernières factures",
       "Pays on average {value:.0f} days after the due date on the last 3 invoices"),
    _f("hist_mean_days_late_last12", "history",
       "Mean days late over the last 12 settled invoices (by settlement date).",
       "Retard moyen sur les 12 dernières factures", "Mean days late, last 12 invoices",
       "Paie en moyenne {value:.0f} jours après l'échéance sur ses 12 dernières factures",
       "Pays on average {value:.0f} days after the due date on the last 12 invoices"),
    _f("hist_trend_days_late", "history",
       "Mean days late of the last 3 settled invoices minus that of the 9 before them "
       "(0 with fewer than 4 settled invoices). Positive: getting later.",
       "Tendance du retard", "Trend in delays",
       "Ses retards ont évolué de {value:+.0f} jours récemment",
       "Delays changed by {value:+.0f} days recently"),
    _f("days_since_last_payment", "history",
       "Days from the customer's last payment (any, allocated or not) to t; tenure when none.",
       "Jours depuis le dernier paiement", "Days since last payment",
       "Dernier paiement reçu il y a {value:.0f} jours",
       "Last payment received {value:.0f} days ago"),
    _f("tenure_days", "history", "Days from the customer's first invoice to t (0: first one).",
       "Ancienneté (jours)", "Tenure (days)",
       "Client depuis {value:.0f} jours", "Customer for {value:.0f} days"),
    # -------------------------------------------------------------------- exposure at t
    _f("open_count", "exposure", "Other invoices of the customer issued before t, open at t.",
       "Factures en cours", "Open invoices",
       "{value:.0f} autres factures en cours", "{value:.0f} other invoices open"),
    _f("open_amount", "exposure",
       "Gross amount of the other invoices open at t (partial payments not deducted).",
       "Encours", "Open balance",
       "Encours de {value:,.0f} sur ses autres factures",
       "Open balance of {value:,.0f} on other invoices"),
    _f("overdue_count", "exposure", "Other invoices open at t whose due date is before t.",
       "Factures échues impayées", "Overdue invoices",
       "{value:.0f} factures échues et toujours impayées",
       "{value:.0f} invoices past due and still unpaid"),
    _f("overdue_amount", "exposure", "Gross amount of those overdue invoices.",
       "Montant échu impayé", "Overdue amount",
       "{value:,.0f} échus et impayés", "{value:,.0f} past due and unpaid"),
    _f("amount_vs_usual", "exposure",
       "Amount divided by the median amount of the customer's last 12 invoices issued before t "
       "(1 when none).",
       "Montant par rapport à l'habitude", "Amount compared with usual",
       "Montant {value:.1f} fois supérieur à ses factures habituelles",
       "Amount {value:.1f} times the customer's usual invoice", fill=1.0),
    _f("due_share_late", "history",
       "Share of the customer's invoices due before t that were unpaid at the end of their due "
       "day, paid since or still open (0 when none).",
       "Part des échéances dépassées", "Share of due dates missed",
       "N'a pas réglé {value:.0%} de ses factures à l'échéance",
       "Missed the due date on {value:.0%} of invoices"),
    _f("due_share_late_recent", "history",
       "The same over the customer's last 6 invoices due before t.",
       "Échéances dépassées récemment", "Recent due dates missed",
       "N'a pas réglé {value:.0%} de ses 6 dernières factures à l'échéance",
       "Missed the due date on {value:.0%} of the last 6 invoices"),
    _f("due_share_severe", "history",
       "Share of the customer's invoices due more than 30 days before t that were still unpaid "
       "30 days after their due date, paid since or still open (0 when none).",
       "Part des retards graves", "Share of severe delays",
       "{value:.0%} de ses factures sont restées impayées plus de 30 jours après l'échéance",
       "{value:.0%} of invoices stayed unpaid more than 30 days past due"),
    _f("due_share_severe_recent", "history",
       "The same over the customer's last 6 invoices due more than 30 days before t.",
       "Retards graves récents", "Recent severe delays",
       "{value:.0%} de ses 6 dernières factures sont restées impayées plus de 30 jours après "
       "l'échéance",
       "{value:.0%} of the last 6 invoices stayed unpaid more than 30 days past due"),
    _f("due_share_late_trend", "history",
       "due_share_late_recent minus the same share over the 6 invoices due before those "
       "(0 when either is empty). Positive: missing more due dates lately.",
       "Tendance des échéances dépassées", "Trend in missed due dates",
       "Part des échéances dépassées en hausse de {value:.0%} récemment",
       "Share of missed due dates up {value:.0%} recently"),  # model.explain words a fall
    _f("due_share_severe_trend", "history",
       "due_share_severe_recent minus the same share over the 6 invoices before those (0 when "
       "either is empty). Positive: more invoices left unpaid 30 days past due lately.",
       "Tendance des retards graves", "Trend in severe delays",
       "Part des retards de plus de 30 jours en hausse de {value:.0%} récemment",
       "Share of delays over 30 days up {value:.0%} recently"),
    _f("due_still_open_recent", "history",
       "Of the customer's last 6 invoices due more than 30 days before t, the share still unpaid "
       "at t (0 when none).",
       "Factures anciennes toujours impayées", "Old invoices still unpaid",
       "{value:.0%} de ses 6 dernières factures échues depuis plus de 30 jours restent impayées",
       "{value:.0%} of the last 6 invoices due over 30 days ago are still unpaid"),
    _f("due_days_late_recent", "history",
       "Mean days late, capped at 60, of the customer's last 6 invoices due more than 30 days "
       "before t, as known at t: paid on time 0, paid late its delay, still open its days overdue "
       "so far (0 when none).",
       "Retard récent, impayés compris", "Recent delay, unpaid included",
       "Retard moyen de {value:.0f} jours sur ses 6 dernières factures échues, impayés compris",
       "Mean delay of {value:.0f} days on the last 6 invoices due, unpaid ones included"),
    _f("due_days_late_trend", "history",
       "due_days_late_recent minus the same mean over the 6 invoices due before those (0 when "
       "either is empty). Positive: paying later and later.",
       "Tendance du retard, impayés compris", "Trend in delays, unpaid included",
       "Ses retards s'allongent de {value:.0f} jours", "Delays lengthening by {value:.0f} days"),
    # ---------------------------------------------------------- behaviour with dunning
    _f("hist_mean_reminders", "behaviour",
       "Mean number of reminders sent before settlement on the settled invoices.",
       "Relances nécessaires en moyenne", "Reminders usually needed",
       "Il faut en moyenne {value:.1f} relances avant qu'il paie",
       "It takes {value:.1f} reminders on average before payment"),
    _f("hist_share_paid_after_reminder", "behaviour",
       "Share of the settled invoices paid only after at least one reminder.",
       "Part payée après relance", "Share paid after a reminder",
       "{value:.0%} de ses factures n'ont été payées qu'après relance",
       "{value:.0%} of invoices were paid only after a reminder"),
    _f("reminders_last_90d", "behaviour", "Reminders sent to the customer in the 90 days before t.",
       "Relances sur 90 jours", "Reminders in 90 days",
       "{value:.0f} relances envoyées ces 90 derniers jours",
       "{value:.0f} reminders sent in the last 90 days"),
    _f("disputes_count", "behaviour", "Disputes opened by the customer before t.",
       "Litiges ouverts", "Disputes opened",
       "{value:.0f} litiges ouverts", "{value:.0f} disputes opened"),
    _f("disputes_share", "behaviour",
       "Disputes opened before t per invoice issued before t (0 when none).",
       "Taux de litige", "Dispute rate",
       "Conteste {value:.0%} de ses factures", "Disputes {value:.0%} of invoices"),
    _f("promises_count", "behaviour", "Promises to pay closed (kept or broken) before t.",
       "Promesses de paiement", "Promises to pay",
       "{value:.0f} promesses de paiement", "{value:.0f} promises to pay"),
    _f("promises_kept_share", "behaviour",
       "Share of the promises closed before t that were kept (1 when none: nothing broken yet).",
       "Promesses tenues", "Promises kept",
       "A tenu {value:.0%} de ses promesses de paiement",
       "Kept {value:.0%} of promises to pay", fill=1.0),
    # ------------------------------------------------------------------- the invoice
    _f("amount", "invoice", "Invoice amount.", "Montant", "Amount",
       "Facture de {value:,.0f}", "Invoice of {value:,.0f}"),
    _f("log_amount", "invoice", "log(1 + amount).", "Montant (log)", "Amount (log)",
       "Montant de la facture", "Invoice amount"),
    _f("terms_days", "invoice", "Due date minus issue date, in days.",
       "Délai de paiement (jours)", "Payment terms (days)",
       "Délai de paiement de {value:.0f} jours", "Payment terms of {value:.0f} days"),
    _f("terms_end_of_month", "invoice", "1 when the due date is the last day of a month "
       "(terms such as 45 days end of month).",
       "Échéance fin de mois", "End-of-month terms",
       "Échéance en fin de mois", "Due at the end of the month"),
    _f("issue_dayofweek", "invoice", "Day of week of the issue date (0 = Monday).",
       "Jour d'émission", "Day of issue",
       "Facture émise le jour {value:.0f} de la semaine",
       "Invoice issued on weekday {value:.0f}"),
    _f("due_dayofmonth", "invoice", "Day of month of the due date (1-31).",
       "Jour d'échéance", "Due day of month",
       "Échéance le {value:.0f} du mois", "Due on day {value:.0f} of the month"),
    _f("days_overdue", "invoice",
       "Days past the due date at t (unpaid at the end of the day before t; negative: not yet "
       "due). Tells the time-to-payment model's answers apart; not a booster input.",
       "Jours de retard", "Days overdue",
       "En retard de {value:.0f} jours", "{value:.0f} days overdue"),
    _f("age_bin", "invoice",
       "The time-to-payment bin the invoice is in at t (features.labels.EDGES): 0 before and on "
       "its due date, k once it is unpaid past the start of bin k. The age the model's hazards "
       "are conditional on, as it reads it; not a reason.",
       "Ancienneté de l'impayé", "Age of the unpaid invoice",
       "Tranche de retard {value:.0f}", "Delay band {value:.0f}"),
    # ------------------------------------------------------ this invoice's own state at t
    _f("invoice_disputed", "behaviour",
       "1 when a dispute on this invoice was opened before t and not resolved before t.",
       "Facture en litige", "Invoice disputed",
       "Cette facture fait l'objet d'un litige ouvert",
       "This invoice is under an open dispute"),
    # ------------------------------------------------------------------ payer habits
    _f("pay_weekday_share", "behaviour",
       "Share of the customer's payments before t made on its most frequent weekday "
       "(payment runs; 0 when none).",
       "Régularité du jour de paiement", "Payment weekday regularity",
       "Paie {value:.0%} du temps le même jour de la semaine",
       "Pays {value:.0%} of the time on the same weekday"),
    _f("pay_day_regularity", "behaviour",
       "Share of the customer's payments made on the same day of the month as the one before "
       "(a monthly payment run; 0 with fewer than two payments).",
       "Régularité du jour du mois", "Day-of-month regularity",
       "Paie {value:.0%} du temps le même jour du mois (campagne de paiement)",
       "Pays {value:.0%} of the time on the same day of the month (payment run)"),
    _f("days_due_to_pay_run", "behaviour",
       "Days from the due date to the next occurrence of the day of the month of the "
       "customer's last payment (0 when no payment yet).",
       "Jours entre l'échéance et la campagne de paiement", "Days from due date to payment run",
       "Sa prochaine campagne de paiement tombe {value:.0f} jours après l'échéance",
       "Its next payment run falls {value:.0f} days after the due date"),
    _f("hist_partial_share", "behaviour",
       "Share of the settled invoices paid in two or more instalments.",
       "Paiements partiels", "Partial payments",
       "Règle {value:.0%} de ses factures en plusieurs fois",
       "Pays {value:.0%} of invoices in instalments"),
    _f("hist_season_excess_days", "history",
       "Excess days late (early counts as 0) on the settled invoices due in the same calendar "
       "month as this one (any year), over those on all settled invoices, shrunk by one "
       "pseudo-invoice: n / (n + 1) × (that month's mean − overall mean) (0 when none).",
       "Retard saisonnier", "Seasonal delay",
       "Paie en général {value:.0f} jours plus tard aux échéances de cette période de l'année",
       "Usually pays {value:.0f} days later on invoices due at this time of year"),
]

FEATURES: dict[str, Feature] = {feature.name: feature for feature in _ALL}
FEATURE_COLUMNS: list[str] = list(FEATURES)
