"""Train = serve: the features a model learns from a ledger directory are exactly those it is
served from the database after `relance import` of the same directory — contact history
(reminders sent, promises and their outcome, disputes) included."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.pipeline import FEATURE_COLUMNS, build_features
from features.synth import generate
from ledger.frames import load_ledger_dir, write_ledger_dir
from ledger.importers import import_ledger_dir
from ledger.store import read_frames


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    frames = generate(customers=40, months=14, seed=21, start="2024-01-01")
    path = tmp_path_factory.mktemp("ledger")
    write_ledger_dir(frames, path)
    return path


def _compare(left: pd.DataFrame, right: pd.DataFrame) -> None:
    left = left.sort_values("invoice_id", ignore_index=True)
    right = right.sort_values("invoice_id", ignore_index=True)
    assert left["invoice_id"].tolist() == right["invoice_id"].tolist()
    for name in FEATURE_COLUMNS:
        np.testing.assert_allclose(left[name].to_numpy(float), right[name].to_numpy(float),
                                   rtol=1e-9, atol=1e-6, err_msg=name)


def test_features_from_the_directory_equal_features_from_the_database(session, directory):
    from_dir = load_ledger_dir(directory)
    import_ledger_dir(session=session, directory=directory, actor="test", today=dt.date.today())
    session.commit()
    from_db = read_frames(session=session, as_of=from_dir.as_of.date())
    assert len(from_db.reminders) == len(from_dir.reminders) > 0
    assert len(from_db.promises) == len(from_dir.promises) > 0
    assert set(from_db.promises["status"]) == set(from_dir.promises["status"])
    # training rows (each invoice at its issue date) and serving rows (open invoices today)
    _compare(build_features(from_dir), build_features(from_db))
    tomorrow = from_dir.as_of + pd.Timedelta(days=1)
    served = build_features(from_db, as_of=tomorrow)
    assert served["reminders_last_90d"].gt(0).any()
    _compare(build_features(from_dir, as_of=tomorrow), served)


def test_importing_the_contact_history_twice_keeps_one_copy(session, directory):
    from sqlalchemy import func, select

    from ledger.tables import DunningAction, Promise

    for _ in range(2):
        import_ledger_dir(session=session, directory=directory, actor="test", today=dt.date.today())
        session.commit()
    written = pd.read_csv(directory / "reminders.csv")
    assert session.execute(select(func.count()).select_from(DunningAction)).scalar() == len(written)
    promised = pd.read_csv(directory / "promises.csv")
    assert session.execute(select(func.count()).select_from(Promise)).scalar() == len(promised)
