"""Evaluate a candidate policy against the logged one, from a ledger directory's logged actions.

The logged decisions are split in time: the first part (``TRAIN_SHARE`` of them, by decision
date) fits the outcome model (and, for ``learned``, the candidate itself); the rest is where the
candidate is evaluated — never on the decisions it learned from. On a simulator ledger the
candidate is also replayed forward from the same seed, from the split date on, to give its true
value (``simulated``), and the logged policy's (``simulated_logged``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features import simulator
from features.decisions import ARM_INDEX, PAID_WITHIN_DAYS, bounded, logged_dataset
from ledger.frames import load_ledger_dir
from model import ope, uplift
from model.policy_file import PolicyFile

TRAIN_SHARE = 0.6
MIN_DECISIONS = 50
ACTION_COLUMNS = ("action_id", "invoice_id", "customer_id", "decided_on", "sent_on", "arm",
                  "propensity")


class EvaluationInputError(ValueError):
    """A ledger or candidate that cannot be evaluated (the message says why)."""


@dataclass
class Evaluation:
    metric: str
    logged_value: float
    ips: float
    snips: float
    dr: float
    dr_ci: tuple[float, float]
    n: int
    gain_ci: tuple[float, float]  # DR − logged value; > 0 means better for paid_14
    higher_is_better: bool
    candidate: str
    split_on: str
    simulated: float | None = None
    simulated_logged: float | None = None
    policy: object = None  # the candidate as a features.decisions.Policy (to replay or store)

    def as_json(self) -> dict:
        """Exactly the keys of ``relance policy evaluate --json``."""
        out = {"metric": self.metric, "logged_value": self.logged_value, "ips": self.ips,
               "snips": self.snips, "dr": self.dr, "dr_ci": list(self.dr_ci), "n": self.n}
        if self.simulated is not None:
            out["simulated"] = self.simulated
            out["simulated_logged"] = self.simulated_logged
        return out

    @property
    def gain_lower_bound(self) -> float:
        """The pessimistic end of the gain's interval, signed so that > 0 is an improvement."""
        low, high = self.gain_ci
        return low if self.higher_is_better else -high


def read_actions(directory: Path | str) -> pd.DataFrame:
    path = Path(directory) / "actions.csv"
    if not path.is_file():
        raise EvaluationInputError(f"{directory}: no actions.csv (logged actions with their propensities)")
    actions = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in ACTION_COLUMNS if c not in actions.columns]
    if missing:
        raise EvaluationInputError(f"{path}: missing column(s) {', '.join(missing)}")
    try:
        actions["decided_on"] = pd.to_datetime(actions["decided_on"], format="ISO8601")
        actions["sent_on"] = pd.to_datetime(actions["sent_on"], format="ISO8601")
        actions["propensity"] = pd.to_numeric(actions["propensity"])
    except (ValueError, TypeError) as error:
        raise EvaluationInputError(f"{path}: unreadable dates or propensities ({error})") from None
    bad = ~actions["arm"].isin(list(ARM_INDEX)) | ~actions["propensity"].between(0, 1, inclusive="right")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise EvaluationInputError(f"{path} line {row}: unknown arm or propensity outside (0, 1]")
    return actions


def evaluate(directory: Path | str, candidate: str | PolicyFile, *, metric: str = "paid_14",
             resamples: int = 400, seed: int = 0, progress=None) -> Evaluation:
    """``candidate``: ``"learned"`` or a parsed policy file. ``progress(step, fraction)``."""
    if metric not in uplift.METRICS:
        raise EvaluationInputError(f"unknown metric {metric!r} (known: {', '.join(uplift.METRICS)})")
    tick = progress or (lambda step, fraction: None)
    tick("load", 0.0)
    frames = load_ledger_dir(directory)
    data = logged_dataset(frames, read_actions(directory))
    column, known, higher, _ = uplift.METRICS[metric]
    data = data[data[known]].sort_values(["decided_on", "action_id"], kind="stable")
    if len(data) < MIN_DECISIONS:
        raise EvaluationInputError(f"{len(data)} logged decisions with a known outcome; "
                                   f"at least {MIN_DECISIONS} are needed")
    split_on = data["decided_on"].iloc[int(len(data) * TRAIN_SHARE)]
    train, test = data[data["decided_on"] < split_on], data[data["decided_on"] >= split_on]
    tick("fit", 0.2)
    models = uplift.fit(train, metric, seed=seed)
    policy = uplift.LearnedPolicy(models) if candidate == "learned" else candidate
    target = bounded(policy(test), test, run=True)  # what the run would apply (never a letter)
    predicted = models.predict(test)
    arms = test["arm"].map(ARM_INDEX).to_numpy()
    reward = test[column].to_numpy(dtype=float)
    propensity = test["propensity"].to_numpy(dtype=float)
    point = ope.estimate(reward, arms, propensity, target, predicted)
    tick("bootstrap", 0.4)
    intervals = ope.bootstrap(reward, arms, propensity, target, predicted, resamples=resamples,
                              seed=seed, progress=lambda done: tick("bootstrap", 0.4 + 0.3 * done / resamples))
    result = Evaluation(
        metric=metric, logged_value=point.logged_value, ips=point.ips, snips=point.snips,
        dr=point.dr, dr_ci=intervals.dr, n=len(test), gain_ci=intervals.gain,
        higher_is_better=higher, split_on=split_on.date().isoformat(),
        candidate="learned" if candidate == "learned" else candidate.name, policy=policy)
    if simulator.is_simulated(directory):
        tick("replay", 0.7)
        truth = simulated_values(directory, policy, split_on, frames.as_of, metric)
        result.simulated, result.simulated_logged = truth
    tick("done", 1.0)
    return result


def outcome_of(decisions: pd.DataFrame, metric: str) -> np.ndarray:
    """The metric of replayed decisions, from their true pay day."""
    decided = decisions["decided_on"].to_numpy().astype("datetime64[D]").astype(np.int64)
    pay = decisions["pay_day"].to_numpy(dtype=np.int64)
    if metric == "paid_14":
        return (pay <= decided + PAID_WITHIN_DAYS).astype(float)
    return np.minimum(pay - decided, 60).astype(float)


def window(decisions: pd.DataFrame, split_on: pd.Timestamp, as_of: pd.Timestamp,
           metric: str) -> pd.DataFrame:
    """The replayed decisions the evaluation's test set stands for: from the split date, with the
    outcome known at the ledger's date (the same rule as ``logged_dataset``)."""
    decided = decisions["decided_on"]
    horizon = pd.Timedelta(days=PAID_WITHIN_DAYS if metric == "paid_14" else 60)
    pay = pd.to_datetime(decisions["pay_day"].to_numpy(dtype=np.int64).astype("datetime64[D]"))
    known = (decided + horizon <= as_of) if metric == "paid_14" else \
        ((decided + horizon <= as_of) | (pay <= as_of))
    return decisions[(decided >= split_on) & (decided <= as_of) & known]


def simulated_values(directory, policy, split_on, as_of, metric) -> tuple[float, float]:
    replayed = window(simulator.replay(directory, policy, switch_on=split_on), split_on, as_of, metric)
    params = simulator.SimulationParams.read(directory)
    logged = simulator.simulate(simulator.build_world(params),
                                simulator.exploring_policy(params.exploration)).decisions
    logged = window(logged, split_on, as_of, metric)
    return float(outcome_of(replayed, metric).mean()), float(outcome_of(logged, metric).mean())


@dataclass
class Comparison:
    """Two policies replayed from the same seed over the same decisions (from ``split_on``)."""

    decisions: int
    mean_days_late: tuple[float, float]  # (candidate, rule): from due date to payment
    paid_within_30: tuple[float, float]  # share paid within 30 days of the due date
    formal_notices: tuple[int, int]
    invoices_lost: tuple[int, int]  # key accounts' invoices never issued (relationship cost)


def compare_with_rule(directory: Path | str, policy, split_on: pd.Timestamp) -> Comparison:
    """The candidate against the rule policy, both replayed forward from ``split_on`` (with the
    logged policy before it), on the decisions up to the ledger's date."""
    from features.decisions import rule_policy

    as_of = simulator.simulated_as_of(directory)
    out = []
    for chosen in (policy, rule_policy):
        replayed = simulator.replay(directory, chosen, switch_on=split_on)
        replayed = replayed[(replayed["decided_on"] >= split_on) & (replayed["decided_on"] <= as_of)]
        out.append(replayed)
    return Comparison(
        decisions=len(out[0]),
        mean_days_late=tuple(float(d["days_late"].mean()) for d in out),
        paid_within_30=tuple(float((d["days_late"] <= 30).mean()) for d in out),
        formal_notices=tuple(int(d["formal_notice"].sum()) for d in out),
        invoices_lost=tuple(int(d["invoices_lost"].sum()) for d in out),
    )
