"""The served model: a :class:`Predictor` loaded from the registry or from a saved directory.

    predictor = Predictor.load()                       # models:/late-payment@champion
    predictor = Predictor.load("models:/late-payment@challenger")
    predictor = Predictor.load("path/to/bundle")
    predictor.predict(features)        # p_late, p_severe, expected_days_late
    predictor.explain(features, top=3, language="fr")

``features`` is the output of :func:`features.pipeline.build_features` (extra columns are
ignored). Loading reads LightGBM text files and JSON: no training data, no unpickling.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from model.bundle import ModelBundle
from model.errors import ModelError
from model.explain import Reason, reasons

PREDICTION_COLUMNS = ["p_late", "p_severe", "expected_days_late"]
# see TrainConfig.num_threads: spinning OpenMP threads on a busy server cost more than they give
THREADS = 1


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
        from model.registry import resolve

        path, version = resolve(source)
        return cls(ModelBundle.load(path), version=version, path=path)

    @property
    def features(self) -> list[str]:
        return self.bundle.features

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """P(late), P(severe > 30 days) and expected days late, on the index of ``features``."""
        X = self._matrix(features)
        if len(X) == 0:
            return pd.DataFrame(columns=PREDICTION_COLUMNS, index=features.index, dtype=float)
        b = self.bundle
        p_late = b.calibrators["late"](b.late.predict(X, num_threads=THREADS))
        # severely late implies late: keep the two probabilities consistent
        p_severe = np.minimum(b.calibrators["severe"](b.severe.predict(X, num_threads=THREADS)),
                              p_late)
        days = np.clip(b.days.predict(X, num_threads=THREADS), 0, None)
        return pd.DataFrame({"p_late": p_late, "p_severe": p_severe,
                             "expected_days_late": days}, index=features.index)

    def explain(self, features: pd.DataFrame, top: int = 3,
                language: str = "fr") -> list[list[Reason]]:
        """The ``top`` reasons of each row (call it for the rows you show, not for all)."""
        if top < 1:
            raise ModelError(f"top must be >= 1, got {top}")
        return reasons(self.bundle.late, self._matrix(features), top=top, language=language)

    def _matrix(self, features: pd.DataFrame) -> pd.DataFrame:
        missing = [name for name in self.features if name not in features]
        if missing:
            raise ModelError(f"features lack the columns {missing[:5]} (model {self.version})")
        return features[self.features].astype(float)
