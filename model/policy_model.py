"""A candidate reminder policy as stored beside its evaluation, and the one function that turns
it into a choice among the arms an invoice may be given.

``dump`` writes a candidate — the learned T-learner (``model.uplift.LearnedPolicy``: one
LightGBM booster per arm, as LightGBM's own text format, or a constant for an arm with too few
logged decisions) or an analyst's policy file (``model.policy_file.PolicyFile``) — as one JSON
text, with its SHA-256. ``load`` reads it back (refusing a payload whose hash differs, or that
does not describe the features and arms this code knows). The evaluation stores the payload
and its hash (``ledger.policies.save_evaluation``); activating the evaluation switches on
exactly this payload, which the daily run loads (``serving.policy_run``).

``choose`` is shared by the daily run and the simulator's replay of it: among the arms
``allowed`` for each decision, the candidate's pick, or the decision's own arm (the rules')
unless another is predicted better by the learned policy's margin.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.decisions import ARM_NAMES, FEATURES, Policy, one_hot, rule_arm, run_allowed
from model import uplift
from model.policy_file import PolicyFile, PolicyFileError, parse

FORMAT = "relance-policy/1"


class PolicyModelError(ValueError):
    """A stored candidate that cannot be used (corrupt, altered, or of another format)."""


def dump(candidate: object) -> tuple[str, str]:
    """(payload, sha256) of a learned policy or a policy file."""
    if isinstance(candidate, uplift.LearnedPolicy):
        models = []
        for model in candidate.models.models:
            if isinstance(model, uplift._Constant):
                models.append({"kind": "constant", "value": float(model.value)})
            else:
                kind = "classifier" if isinstance(model, lgb.LGBMClassifier) else "regressor"
                models.append({"kind": kind, "booster": model.booster_.model_to_string()})
        body: dict[str, Any] = {"format": FORMAT, "kind": "learned",
                                "metric": candidate.models.metric, "margin": uplift.MARGIN[candidate.models.metric],
                                "features": list(FEATURES), "arms": list(ARM_NAMES), "models": models}
    elif isinstance(candidate, PolicyFile):
        body = {"format": FORMAT, "kind": "file", "file": candidate.model_dump(by_alias=True)}
    else:
        raise TypeError(f"not a storable candidate: {type(candidate).__name__}")
    payload = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return payload, sha256(payload)


def sha256(payload: str) -> str:
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class _Booster:
    booster: lgb.Booster

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        # a binary classifier's booster predicts the probability, a regressor's the value
        return np.asarray(self.booster.predict(X.to_numpy(dtype=float), num_threads=1))


@dataclass
class StoredPolicy:
    """A loaded candidate: ``scores`` (learned: predicted outcome per arm, higher is better)
    or ``arms`` (file: the arm its rules give)."""

    kind: str
    sha256: str
    margin: float = 0.0
    models: list[Any] | None = None
    file: PolicyFile | None = None

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        assert self.models is not None
        X = frame[list(FEATURES)].astype(float)
        return np.column_stack([model.predict(X) for model in self.models])


def load(payload: str, expected_sha256: str | None) -> StoredPolicy:
    digest = sha256(payload)
    if expected_sha256 is not None and digest != expected_sha256:
        raise PolicyModelError("the stored candidate's content does not match its recorded hash")
    try:
        body = json.loads(payload)
    except json.JSONDecodeError:
        raise PolicyModelError("the stored candidate is not valid JSON") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise PolicyModelError("the stored candidate is of an unknown format")
    if body.get("kind") == "file":
        try:
            return StoredPolicy("file", digest, file=parse(body.get("file"), source="stored policy"))
        except PolicyFileError as error:
            raise PolicyModelError(str(error)) from None
    if body.get("kind") != "learned" or body.get("features") != list(FEATURES) \
            or body.get("arms") != list(ARM_NAMES) or body.get("metric") not in uplift.METRICS:
        raise PolicyModelError("the stored model does not read the features and arms this version knows")
    higher = uplift.METRICS[body["metric"]][2]
    models: list[Any] = []
    try:
        for item in body["models"]:
            if item["kind"] == "constant":
                model: Any = uplift._Constant(float(item["value"]))
            else:
                model = _Booster(lgb.Booster(model_str=item["booster"]))
            models.append(model if higher else _Negated(model))
        margin = float(body["margin"])
    except (KeyError, TypeError, ValueError, lgb.basic.LightGBMError):
        raise PolicyModelError("the stored model's boosters cannot be read") from None
    if len(models) != len(ARM_NAMES):
        raise PolicyModelError("the stored model has not one model per arm")
    return StoredPolicy("learned", digest, margin=margin, models=models)


@dataclass
class _Negated:
    """Fewer days is better: scores are the predicted days, negated."""

    model: Any

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return -np.asarray(self.model.predict(X), dtype=float)


def preferences(policy: StoredPolicy, frame: pd.DataFrame) -> np.ndarray:
    """decisions × arms, computed once for many decisions: a learned policy's scores (higher is
    better), or 1 on the arm a file's rules give."""
    if len(frame) == 0:
        return np.zeros((0, len(ARM_NAMES)))
    if policy.kind == "file":
        assert policy.file is not None
        return policy.file(frame).astype(float)
    return policy.scores(frame)


def choose_from(policy: StoredPolicy, prefs: np.ndarray, allowed: np.ndarray, own: np.ndarray) -> np.ndarray:
    """The arm index per decision among ``allowed`` (decisions × arms; ``own``, the rules' arm,
    always allowed): a file's arm when allowed, else ``own``; the learned policy's best allowed
    arm when it beats ``own`` by the margin, else ``own``."""
    rows = np.arange(len(prefs))
    if policy.kind == "file":
        picked = prefs.argmax(axis=1)
        return np.where(allowed[rows, picked], picked, own).astype(np.int64)
    score = np.where(allowed, prefs, -np.inf)
    best = score.argmax(axis=1)
    gain = score[rows, best] - score[rows, own]
    return np.where(gain > policy.margin, best, own).astype(np.int64)


def choose(policy: StoredPolicy, frame: pd.DataFrame, allowed: np.ndarray, own: np.ndarray) -> np.ndarray:
    """``choose_from`` on a frame with ``FEATURES`` (and, for a file, ``amount``,
    ``terms_days``, ``scenario``)."""
    return choose_from(policy, preferences(policy, frame), allowed, own)


def as_run(policy: StoredPolicy) -> Policy:
    """The stored policy as the daily run applies it, as a ``features.decisions.Policy`` (for
    the simulator's replay): ``choose`` among ``run_allowed``, the rules' arm as its own."""
    def applied(frame: pd.DataFrame) -> np.ndarray:
        return one_hot(choose(policy, frame, run_allowed(frame), rule_arm(frame)))
    return applied
