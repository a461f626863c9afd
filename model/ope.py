"""Off-policy evaluation: what a candidate policy would have achieved, from the logs of another.

For logged decisions i with context x_i, arm a_i chosen with probability p_i (the logged
propensity) and reward r_i, a candidate policy π (probabilities over arms) and an outcome model
q̂(x, a):

- IPS    = mean( w_i r_i ),                w_i = π(a_i | x_i) / p_i
- SNIPS  = Σ w_i r_i / Σ w_i               (self-normalised: less variance, slightly biased)
- DR     = mean( Σ_a π(a|x_i) q̂(x_i, a) + w_i (r_i − q̂(x_i, a_i)) )
           (doubly robust: right if either the propensities or the outcome model are)

Intervals are percentile bootstrap intervals over decisions (resampled with replacement); the
gain's interval bootstraps DR − logged value on the same resamples, so it accounts for their
correlation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimates:
    logged_value: float
    ips: float
    snips: float
    dr: float


def estimate(reward: np.ndarray, arm: np.ndarray, propensity: np.ndarray, target: np.ndarray,
             predicted: np.ndarray) -> Estimates:
    """Point estimates. ``target`` and ``predicted`` are decisions × arms matrices."""
    reward, arm, propensity = (np.asarray(v, dtype=float) for v in (reward, arm, propensity))
    arm = arm.astype(int)
    _check(reward, arm, propensity, target, predicted)
    rows = np.arange(len(reward))
    weight = target[rows, arm] / propensity
    direct = (target * predicted).sum(axis=1)
    correction = weight * (reward - predicted[rows, arm])
    total_weight = weight.sum()
    return Estimates(
        logged_value=float(reward.mean()),
        ips=float((weight * reward).mean()),
        snips=float((weight * reward).sum() / total_weight) if total_weight > 0 else float("nan"),
        dr=float((direct + correction).mean()),
    )


def _check(reward, arm, propensity, target, predicted) -> None:
    n = len(reward)
    if n == 0:
        raise ValueError("no logged decision to evaluate")
    if len(arm) != n or len(propensity) != n or target.shape[0] != n or predicted.shape != target.shape:
        raise ValueError("reward, arm, propensity, target and predicted must describe the same decisions")
    if np.any(propensity <= 0) or np.any(propensity > 1):
        raise ValueError("logged propensities must be in (0, 1]")


@dataclass(frozen=True)
class Intervals:
    dr: tuple[float, float]
    ips: tuple[float, float]
    snips: tuple[float, float]
    gain: tuple[float, float]  # DR − logged value


def bootstrap(reward: np.ndarray, arm: np.ndarray, propensity: np.ndarray, target: np.ndarray,
              predicted: np.ndarray, *, resamples: int = 500, seed: int = 0,
              level: float = 0.95, progress=None) -> Intervals:
    """Percentile bootstrap intervals (``progress``: called with the number of resamples done)."""
    reward, propensity = np.asarray(reward, dtype=float), np.asarray(propensity, dtype=float)
    arm = np.asarray(arm).astype(int)
    _check(reward, arm, propensity, target, predicted)
    rows = np.arange(len(reward))
    weight = target[rows, arm] / propensity
    dr_terms = (target * predicted).sum(axis=1) + weight * (reward - predicted[rows, arm])
    rng = np.random.default_rng(seed)
    samples = {"dr": [], "ips": [], "snips": [], "gain": []}
    chunk = 50
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        draw = rng.integers(0, len(reward), size=(size, len(reward)))
        w, r, d = weight[draw], reward[draw], dr_terms[draw]
        samples["dr"].append(d.mean(axis=1))
        samples["ips"].append((w * r).mean(axis=1))
        total = w.sum(axis=1)
        samples["snips"].append(np.where(total > 0, (w * r).sum(axis=1) / np.where(total > 0, total, 1), np.nan))
        samples["gain"].append(d.mean(axis=1) - r.mean(axis=1))
        if progress is not None:
            progress(start + size)
    tail = (1 - level) / 2 * 100
    bounds = {name: tuple(float(x) for x in np.nanpercentile(np.concatenate(values), [tail, 100 - tail]))
              for name, values in samples.items()}
    return Intervals(**bounds)
