"""Reasons: per-prediction contributions (TreeSHAP via LightGBM ``pred_contrib``) as sentences.

The booster predicts the hazard (the chance of being paid in a bin); the risk a person sees is
its opposite, so a reason's ``effect`` is minus the contribution, in log-odds, before
calibration (a monotone map per bin: signs and ranking are the same). The row explained is the
invoice's current bin: bin 0 (P(late)) before the due date, the bin it is in once overdue
(P(not paid within 30 days)). Contributions are grouped by feature family (history, exposure,
behaviour, invoice, see :mod:`features.registry`); each family is told by its most telling
feature, in the registry's French or English template, except where a number would read wrong:
a delay of zero or less reads "pays on or before the due date", never "-2 days", a trend says
which way it goes. A dispute is only ever given as raising the risk. Computed on demand only.
"""
from __future__ import annotations

from typing import TypedDict

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.registry import FEATURES

# these features say something only when set (a 0 would read "no payment history" wrongly)
_FLAGS = {"hist_cold_start", "terms_end_of_month"}
# log_amount is amount told twice: its share of the effect goes to amount
_MERGED = {"log_amount": "amount"}
# the bin and age_bin are the invoice's age, not a reason; days_overdue is never a booster input
_NOT_REASONS = {"bin", "days_overdue", "age_bin"}
_DELAYS = {"hist_mean_days_late", "hist_median_days_late_last12", "hist_max_days_late",
           "hist_mean_days_late_last3", "hist_mean_days_late_last12", "due_days_late_recent"}
_DISPUTES = {"invoice_disputed", "disputes_count", "disputes_share"}
_ON_TIME = {"fr": "Paie en général à l'échéance ou en avance",
            "en": "Usually pays on or before the due date"}


class Reason(TypedDict):
    feature: str
    family: str
    value: float
    effect: float  # log-odds added to P(late); > 0 raises the risk
    sentence: str


def contributions(booster: lgb.Booster, X: pd.DataFrame) -> pd.DataFrame:
    """TreeSHAP contributions per feature (log-odds), one row per row of ``X``."""
    names = booster.feature_name()
    columns, values = _contributions(booster, X[names].to_numpy(dtype=np.float64), names)
    return pd.DataFrame(values, columns=columns, index=X.index)


def reasons(booster: lgb.Booster, X: pd.DataFrame, *, top: int = 3,
            language: str = "fr") -> list[list[Reason]]:
    """The ``top`` families with the largest effect on each row's risk, strongest first."""
    names = booster.feature_name()
    return matrix_reasons(booster, X[names].to_numpy(dtype=np.float64), top=top,
                          language=language)


def matrix_reasons(booster: lgb.Booster, X: np.ndarray, *, top: int = 3,
                   language: str = "fr") -> list[list[Reason]]:
    """``reasons`` of a float matrix whose columns are the booster's features in its order: the
    single-row path a request takes (no DataFrame on the way: a few milliseconds for one row)."""
    names = booster.feature_name()
    columns, contrib = _contributions(booster, X, names)
    families = _families(columns)
    values = X[:, [names.index(c) for c in columns]]
    effects = -contrib  # a higher chance of payment is a lower risk
    return [_row_reasons(values[i], effects[i], columns, families, top, language)
            for i in range(len(X))]


def _contributions(booster: lgb.Booster, X: np.ndarray,
                   names: list[str]) -> tuple[list[str], np.ndarray]:
    """(the columns reasons read, their contributions): merged and non-reasons dropped."""
    values = booster.predict(X, pred_contrib=True, num_threads=1)[:, :-1]
    index = {name: j for j, name in enumerate(names)}
    for source, target in _MERGED.items():
        if source in index and target in index:
            values[:, index[target]] += values[:, index[source]]
    keep = [j for j, name in enumerate(names)
            if name not in _NOT_REASONS and not (name in _MERGED and _MERGED[name] in index)]
    return [names[j] for j in keep], values[:, keep]


def _families(columns: list[str]) -> dict[str, list[int]]:
    families: dict[str, list[int]] = {}
    for j, name in enumerate(columns):
        families.setdefault(FEATURES[name].family if name in FEATURES else "other", []).append(j)
    return families


def _row_reasons(values: np.ndarray, effects: np.ndarray, columns: list[str],
                 families: dict[str, list[int]], top: int, language: str) -> list[Reason]:
    cold = "hist_cold_start" in columns and values[columns.index("hist_cold_start")] == 1
    found: list[Reason] = []
    for family, idx in families.items():
        total = float(effects[idx].sum())
        j = _telling_feature(values, effects, columns, idx, total, cold and family == "history")
        if j is None:
            continue
        name = columns[j]
        sentence = _sentence(name, values[j], language)
        found.append(Reason(feature=name, family=family, value=float(values[j]),
                            effect=round(total, 4), sentence=sentence))
    found.sort(key=lambda r: abs(r["effect"]), reverse=True)
    return found[:top]


def _telling_feature(values: np.ndarray, effects: np.ndarray, columns: list[str],
                     idx: list[int], total: float, cold: bool) -> int | None:
    """The feature that best tells the family's effect: pushing the same way, largest."""
    if cold:  # a new payer's history features are fills: the reason is that there is none
        return columns.index("hist_cold_start")
    # a dispute lowering the risk is never a sentence a credit manager would agree with
    eligible = [j for j in idx if (columns[j] not in _FLAGS or values[j] == 1)
                and not (columns[j] in _DISPUTES and (effects[j] <= 0 or values[j] == 0))]
    if not eligible:
        return None
    same_way = [j for j in eligible if np.sign(effects[j]) == np.sign(total)]
    pool = same_way or eligible
    return max(pool, key=lambda j: abs(effects[j]))


_SHARE_TRENDS = {
    "due_share_late_trend": ("Part des échéances dépassées", "Share of missed due dates"),
    "due_share_severe_trend": ("Part des retards de plus de 30 jours",
                               "Share of delays over 30 days"),
}


def _sentence(name: str, value: float, language: str) -> str:
    language = "en" if language == "en" else "fr"
    if name in _DELAYS and value <= 0.5:
        return _ON_TIME[language]
    if name in ("hist_trend_days_late", "due_days_late_trend"):
        days = abs(round(value))
        if language == "fr":
            return (f"Ses retards s'allongent : {days} jours de plus récemment" if value > 0 else
                    f"Ses retards se réduisent : {days} jours de moins récemment")
        return (f"Paying later: {days} more days late recently" if value > 0 else
                f"Paying sooner: {days} fewer days late recently")
    if name in _SHARE_TRENDS:
        points = abs(round(100 * value))
        what_fr, what_en = _SHARE_TRENDS[name]
        if language == "fr":
            return f"{what_fr} en {'hausse' if value > 0 else 'baisse'} de {points} points récemment"
        return f"{what_en} {'up' if value > 0 else 'down'} {points} points recently"
    if name == "hist_season_excess_days" and value < 0:
        days = abs(round(value))
        return (f"Paie en général {days} jours plus tôt aux échéances de cette période de l'année"
                if language == "fr" else
                f"Usually pays {days} days sooner on invoices due at this time of year")
    feature = FEATURES.get(name)
    return feature.sentence(value, language) if feature else name
