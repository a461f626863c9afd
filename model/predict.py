"""The served model: a :class:`Predictor` loaded from the registry or from a saved directory.

    predictor = Predictor.load()                       # models:/late-payment@champion
    predictor = Predictor.load("path/to/bundle")
    predictor.predict(features)        # every time-to-payment answer (PREDICTION_COLUMNS)
    predictor.hazards(features)        # the (n, 7) calibrated hazards behind them
    predictor.explain(features, top=3, language="fr")

``features`` is the output of :func:`features.pipeline.build_features` at the scoring time
(extra columns are ignored): each invoice is unpaid at ``days_overdue`` and every answer is
conditional on that (see :mod:`model.survival`). Loading reads a LightGBM text file and JSON:
no training data, no unpickling.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from model.bundle import ModelBundle
from model.errors import ModelError
from model.explain import Reason, matrix_reasons, reasons
from model.survival import N_BINS, summarise

PREDICTION_COLUMNS = ["p_late", "p_severe", "expected_days_late", "p_unpaid_30", "p_unpaid_90",
                      "expected_pay_date", "pay_date_low", "pay_date_high"]
PROBABILITIES = ["p_late", "p_severe", "p_unpaid_30", "p_unpaid_90"]
# a calibrated hazard is kept inside [0.1 %, 99.9 %]: no answer is ever "certain"
H_FLOOR, H_CEIL = 0.001, 0.999
# serving scores a handful of invoices per request: threads cost more than they give there
THREADS = 1
BATCH_ROWS = 50_000  # rows from which predicting uses every core


class Predictor:
    def __init__(self, bundle: ModelBundle, *, version: str | None = None,
                 path: Path | None = None) -> None:
        self.bundle = bundle
        self.version = version or f"local-{bundle.meta.get('bundle_id', 'unsaved')}"
        self.path = path  # where the bundle was loaded from (drift reads its reference there)

    @classmethod
    def load(cls, source: str | Path | None = None) -> Predictor:
        """From a ``models:/`` URI (default: the champion of the configured model) or a directory.

        Raises :class:`model.errors.NoModelError` when there is nothing to load.
        """
        from model.store import resolve

        path, version = resolve(source)
        return cls(ModelBundle.load(path), version=version, path=path)

    @property
    def features(self) -> list[str]:
        return self.bundle.features

    def row_hazards(self, X: pd.DataFrame, *, calibrated: bool = True) -> np.ndarray:
        """Hazard of each row for its own ``bin`` (calibrated unless asked otherwise)."""
        self._check(X)
        bins = X["bin"].to_numpy(int)
        raw = self._raw(X[self.features].astype(float), bins)
        return self._calibrate(raw, bins) if calibrated else raw

    def hazards(self, features: pd.DataFrame) -> np.ndarray:
        """(n, N_BINS) calibrated hazards of each invoice, every bin scored with the features
        known at its scoring time."""
        self._check(features, with_bin=False)
        n = len(features)
        if n == 0:
            return np.zeros((0, N_BINS))
        bins = np.tile(np.arange(N_BINS), n)
        return self._calibrate(self._raw(self.matrix(features), bins), bins).reshape(n, N_BINS)

    def matrix(self, features: pd.DataFrame) -> np.ndarray:
        """The (n × N_BINS, features) float matrix ``hazards`` hands the booster, each invoice
        repeated once per bin: numpy all the way (a DataFrame costs LightGBM a conversion per
        call, pandas' repeat a copy per column). The benchmarks' anchor predicts on it too."""
        others = [c for c in self.features if c != "bin"]
        base = features[others].to_numpy(dtype=np.float64)
        matrix = np.empty((len(features) * N_BINS, len(self.features)))
        matrix[:, [self.features.index(c) for c in others]] = np.repeat(base, N_BINS, axis=0)
        matrix[:, self.features.index("bin")] = np.tile(np.arange(N_BINS), len(features))
        return matrix

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Every answer, on the index of ``features``: P(late), P(severe), expected days late,
        P(unpaid 30 / 90 days | unpaid now), the median pay date and its 80 % interval."""
        if len(features) == 0:
            return pd.DataFrame(columns=PREDICTION_COLUMNS, index=features.index, dtype=float)
        answers = summarise(self.hazards(features), *_timing(features))
        answers.index = features.index
        return answers[PREDICTION_COLUMNS]

    def explain(self, features: pd.DataFrame, top: int = 3,
                language: str = "fr") -> list[list[Reason]]:
        """The ``top`` reasons of each row's risk as a person sees it: P(late) before the due
        date, P(not paid within 30 days) once overdue (call it for the rows you show)."""
        if top < 1:
            raise ModelError(f"top must be >= 1, got {top}")
        from model.dataset import _current_bin

        self._check(features, with_bin=False)
        X = features[[c for c in self.features if c != "bin"]].astype(float).copy()
        X["bin"] = _current_bin(features["days_overdue"].to_numpy(float))
        return reasons(self.bundle.hazard, X[self.features], top=top, language=language)

    def explain_row(self, row: dict[str, float], top: int = 3,
                    language: str = "fr") -> list[Reason]:
        """``explain`` of one invoice given as {feature: value} (``reason_row``'s output): the
        numpy single-row path a request takes on a stored answer, without building features."""
        if top < 1:
            raise ModelError(f"top must be >= 1, got {top}")
        from model.dataset import _current_bin

        names = self.bundle.hazard.feature_name()
        values = {**row, "bin": float(_current_bin(np.array([row["days_overdue"]]))[0])}
        X = np.array([[float(values[name]) for name in names]])
        return matrix_reasons(self.bundle.hazard, X, top=top, language=language)[0]

    def reason_row(self, features: pd.DataFrame, position: int) -> dict[str, float]:
        """What ``explain_row`` needs of one row of ``features``, as plain floats (storable)."""
        needed = [c for c in self.features if c != "bin"] + ["days_overdue"]
        return {name: float(features[name].iloc[position]) for name in dict.fromkeys(needed)}

    def _raw(self, X: pd.DataFrame | np.ndarray, bins: np.ndarray) -> np.ndarray:
        """The booster's hazard: its margin on top of the bin's base log-odds (init score)."""
        # a large batch (a nightly refresh, /predictions) is worth the cores; a request is not
        threads = THREADS if len(X) < BATCH_ROWS else 0
        margin = self.bundle.hazard.predict(X, raw_score=True, num_threads=threads)
        base = np.asarray(self.bundle.meta.get("bin_base_logit", np.zeros(N_BINS)))
        return 1.0 / (1.0 + np.exp(-(margin + base[bins])))

    def _calibrate(self, raw: np.ndarray, bins: np.ndarray) -> np.ndarray:
        out = np.empty(len(raw))
        for k in range(N_BINS):
            inside = bins == k
            if inside.any():
                out[inside] = self.bundle.calibrators[str(k)](raw[inside])
        return np.clip(out, H_FLOOR, H_CEIL)

    def _check(self, features: pd.DataFrame, with_bin: bool = True) -> None:
        needed = [c for c in self.features if with_bin or c != "bin"]
        if not with_bin:
            needed += ["days_overdue", "terms_days"]
        missing = [name for name in needed if name not in features]
        if missing:
            raise ModelError(f"features lack the columns {missing[:5]} (model {self.version})")


def _timing(features: pd.DataFrame) -> tuple[np.ndarray, pd.Series, pd.Series, np.ndarray]:
    """(days late so far, due dates, the day each invoice is known unpaid at, terms)."""
    age = features["days_overdue"].to_numpy(float)
    if "scored_at" in features:
        today = pd.to_datetime(features["scored_at"]).reset_index(drop=True) - pd.Timedelta(days=1)
    else:  # rows without a date (evaluation matrices): dates relative to an arbitrary day
        today = pd.Series(pd.Timestamp("2000-01-01"), index=range(len(features)))
    due = today - pd.to_timedelta(age, unit="D")
    return age, due, today, features["terms_days"].to_numpy(float)
