"""Reasons: per-prediction contributions (TreeSHAP via LightGBM ``pred_contrib``) as sentences.

Contributions are in log-odds of P(late), before calibration (a monotone map, so signs and
ranking are the same). They are grouped by feature family (history, exposure, behaviour,
invoice, see :mod:`features.registry`); each family is told by its most telling feature, in the
registry's French or English template ("Paie en moyenne 18 jours après l'échéance sur ses 12
dernières factures"). Computed on demand only: callers explain the rows they show.
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


class Reason(TypedDict):
    feature: str
    family: str
    value: float
    effect: float  # log-odds added to P(late); > 0 raises the risk
    sentence: str


def contributions(booster: lgb.Booster, X: pd.DataFrame) -> pd.DataFrame:
    """TreeSHAP contributions per feature (log-odds), one row per row of ``X``."""
    names = booster.feature_name()
    values = booster.predict(X[names], pred_contrib=True, num_threads=1)
    frame = pd.DataFrame(values[:, :-1], columns=names, index=X.index)
    for source, target in _MERGED.items():
        if source in frame and target in frame:
            frame[target] += frame.pop(source)
    return frame


def reasons(booster: lgb.Booster, X: pd.DataFrame, *, top: int = 3,
            language: str = "fr") -> list[list[Reason]]:
    """The ``top`` families with the largest effect on each row, strongest first."""
    contrib = contributions(booster, X)
    families = _families(list(contrib.columns))
    values = X[list(contrib.columns)].to_numpy(float)
    effects = contrib.to_numpy(float)
    return [_row_reasons(values[i], effects[i], list(contrib.columns), families, top, language)
            for i in range(len(X))]


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
        feature = FEATURES.get(name)
        sentence = feature.sentence(values[j], language) if feature else name
        found.append(Reason(feature=name, family=family, value=float(values[j]),
                            effect=round(total, 4), sentence=sentence))
    found.sort(key=lambda r: abs(r["effect"]), reverse=True)
    return found[:top]


def _telling_feature(values: np.ndarray, effects: np.ndarray, columns: list[str],
                     idx: list[int], total: float, cold: bool) -> int | None:
    """The feature that best tells the family's effect: pushing the same way, largest."""
    if cold:  # a new payer's history features are fills: the reason is that there is none
        return columns.index("hist_cold_start")
    eligible = [j for j in idx if columns[j] not in _FLAGS or values[j] == 1]
    if not eligible:
        return None
    same_way = [j for j in eligible if np.sign(effects[j]) == np.sign(total)]
    pool = same_way or eligible
    return max(pool, key=lambda j: abs(effects[j]))
