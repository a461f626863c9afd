"""The saved model: three boosters, two calibrators, the feature list, metadata, a reference sample.

One directory of plain files (LightGBM text models, JSON, Parquet): it loads in milliseconds,
without the training data and without unpickling anything. MLflow stores this directory as the
run's ``bundle`` artifact and the registered model version points at it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import pandas as pd

from model.calibrate import Calibrator
from model.errors import NoModelError

BOOSTERS = ("late", "severe", "days")


@dataclass
class ModelBundle:
    late: lgb.Booster  # P(late): days late > 0, binary
    severe: lgb.Booster  # P(severe): days late > 30, binary
    days: lgb.Booster  # expected days late (on-time counts as 0), tweedie regression
    calibrators: dict[str, Calibrator]  # "late", "severe"
    features: list[str]
    meta: dict = field(default_factory=dict)
    reference: pd.DataFrame | None = None  # features + predictions of a training sample (drift)

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name in BOOSTERS:
            getattr(self, name).save_model(str(path / f"{name}.txt"))
        (path / "calibrators.json").write_text(json.dumps(
            {name: c.to_dict() for name, c in self.calibrators.items()}))
        (path / "meta.json").write_text(json.dumps(
            {**self.meta, "features": self.features}, indent=2, default=str))
        if self.reference is not None:
            self.reference.to_parquet(path / "reference.parquet", index=False)
        return path

    @classmethod
    def load(cls, path: Path | str) -> ModelBundle:
        path = Path(path)
        if not (path / "meta.json").exists():
            raise NoModelError(f"no saved model in {path}")
        meta = json.loads((path / "meta.json").read_text())
        calibrators = {name: Calibrator.from_dict(c) for name, c in
                       json.loads((path / "calibrators.json").read_text()).items()}
        boosters = {name: lgb.Booster(model_file=str(path / f"{name}.txt")) for name in BOOSTERS}
        return cls(**boosters, calibrators=calibrators, features=meta.pop("features"), meta=meta)

    @staticmethod
    def load_reference(path: Path | str) -> pd.DataFrame:
        """The reference sample of a saved bundle (read only for drift reports)."""
        file = Path(path) / "reference.parquet"
        if not file.exists():
            raise NoModelError(f"the model in {path} has no reference sample")
        return pd.read_parquet(file)
