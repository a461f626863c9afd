"""Which reminder works for whom: a T-learner on LightGBM, and the policy it implies.

One model per arm (``features.decisions.ARMS``), each fitted on the logged decisions that took
that arm: P(paid within 14 days of the decision | payer and invoice features, arm), and the
expected days from the decision to payment (counted up to 60). The uplift of arm *a* for an
invoice is its prediction minus the rule arm's. The logging policy explores at random *given the
features* (its probabilities depend on the amount and the scenario only), so each arm's sample
is a fair sample of the payers that arm could have been sent to.

The learned policy takes, among the arms acceptable for the invoice, the best predicted one, and
keeps the rule's arm unless another one is predicted better by a margin (``MARGIN``): a policy
change has to be worth the risk of being wrong.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.decisions import ARMS, FEATURES, acceptable, one_hot, rule_arm, run_allowed

METRICS = {
    # name: (column, known column, higher is better, classifier?)
    "paid_14": ("paid_14", "known_14", True, True),
    "days_60": ("days_60", "known_60", False, False),
}
PARAMS = {"n_estimators": 120, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 25,
          "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.9, "reg_lambda": 1.0,
          "num_threads": 1, "verbosity": -1, "deterministic": True, "force_row_wise": True}
MIN_ROWS = 30  # fewer logged decisions for an arm: predict its mean
MARGIN = {"paid_14": 0.03, "days_60": 1.0}


@dataclass
class _Constant:
    value: float

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.full(len(X), self.value)


@dataclass
class ArmModels:
    """One fitted model per arm for one metric."""

    metric: str
    models: list = field(default_factory=list)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """decisions × arms matrix of predicted outcomes."""
        X = frame[list(FEATURES)].astype(float)
        columns = []
        for model in self.models:
            if isinstance(model, lgb.LGBMClassifier):
                columns.append(model.predict_proba(X)[:, 1])
            else:
                columns.append(model.predict(X))
        return np.column_stack(columns)


def fit(data: pd.DataFrame, metric: str = "paid_14", *, seed: int = 0) -> ArmModels:
    """Fit the T-learner on logged decisions whose outcome is known."""
    column, known, _, classifier = METRICS[metric]
    data = data[data[known]]
    fallback = float(data[column].mean()) if len(data) else 0.0
    models = []
    for arm in ARMS:
        rows = data[data["arm"] == arm.name]
        y = rows[column].to_numpy(dtype=float)
        if len(rows) < MIN_ROWS or (classifier and len(np.unique(y)) < 2):
            models.append(_Constant(float(y.mean()) if len(y) else fallback))
            continue
        estimator = (lgb.LGBMClassifier if classifier else lgb.LGBMRegressor)(random_state=seed, **PARAMS)
        estimator.fit(rows[list(FEATURES)].astype(float), y)
        models.append(estimator)
    return ArmModels(metric, models)


def uplift(models: ArmModels, frame: pd.DataFrame) -> np.ndarray:
    """decisions × arms: each arm's predicted outcome minus the rule arm's."""
    predicted = models.predict(frame)
    return predicted - predicted[np.arange(len(frame)), rule_arm(frame)][:, None]


@dataclass
class LearnedPolicy:
    """The policy the uplift model implies; a ``features.decisions.Policy`` (callable)."""

    models: ArmModels

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        metric = self.models.metric
        higher = METRICS[metric][2]
        predicted = self.models.predict(frame)
        score = predicted if higher else -predicted
        # among the arms the daily run can apply (never a letter): the policy evaluated is the
        # policy an analyst's activation switches on (model.policy_model.as_run)
        score = np.where(acceptable(frame) & run_allowed(frame), score, -np.inf)
        rule = rule_arm(frame)
        best = score.argmax(axis=1)
        gain = score[np.arange(len(frame)), best] - score[np.arange(len(frame)), rule]
        return one_hot(np.where(gain > MARGIN[metric], best, rule))
