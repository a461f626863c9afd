"""The saved model: one time-to-payment booster, its per-bin calibrators, the feature list,
metadata and a reference sample for drift.

One directory of plain files (a LightGBM text model, JSON, Parquet): it loads in milliseconds,
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

FORMAT = "hazard-v1"


@dataclass
class ModelBundle:
    hazard: lgb.Booster  # P(paid in bin k | unpaid when bin k starts), features + "bin"
    calibrators: dict[str, Calibrator]  # one per bin ("0" .. "6"), fitted out of time
    features: list[str]
    meta: dict = field(default_factory=dict)
    reference: pd.DataFrame | None = None  # open invoices at the training cut-off (drift)

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.hazard.save_model(str(path / "hazard.txt"))
        (path / "calibrators.json").write_text(json.dumps(
            {name: c.to_dict() for name, c in self.calibrators.items()}))
        (path / "meta.json").write_text(json.dumps(
            {**self.meta, "format": FORMAT, "features": self.features}, indent=2, default=str))
        if self.reference is not None:
            self.reference.to_parquet(path / "reference.parquet", index=False)
        return path

    @classmethod
    def load(cls, path: Path | str) -> ModelBundle:
        path = Path(path)
        if not (path / "meta.json").exists():
            raise NoModelError(f"no saved model in {path}")
        meta = json.loads((path / "meta.json").read_text())
        if meta.pop("format", None) != FORMAT:
            raise NoModelError(f"the model in {path} predates the time-to-payment model: retrain")
        calibrators = {name: Calibrator.from_dict(c) for name, c in
                       json.loads((path / "calibrators.json").read_text()).items()}
        hazard = lgb.Booster(model_file=str(path / "hazard.txt"))
        return cls(hazard=hazard, calibrators=calibrators, features=meta.pop("features"),
                   meta=meta)

    @staticmethod
    def load_reference(path: Path | str) -> pd.DataFrame:
        """The reference sample of a saved bundle (read only for drift reports)."""
        file = Path(path) / "reference.parquet"
        if not file.exists():
            raise NoModelError(f"the model in {path} has no reference sample")
        return pd.read_parquet(file)
