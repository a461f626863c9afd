"""`relance demo --no-serve` end to end, small, in a scratch directory: what `make demo` runs."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_sets_everything_up(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}",
           "MLFLOW_ARTIFACTS": str(tmp_path / "mlruns")}
    (tmp_path / "mlruns").mkdir()
    result = subprocess.run([sys.executable, "-m", "serving.cli", "demo", "--no-serve", "--customers", "40",
                             "--months", "14", "--workdir", str(tmp_path / "ledger")],
                            cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "late-payment v1 @champion" in result.stdout
    keys = {tuple(line.split()[:2]): line.split()[-1] for line in result.stdout.splitlines()
            if len(line.split()) == 3 and line.split()[-1].startswith("rl_")}
    assert set(keys) == {("demo-admin", "admin"), ("demo-analyst", "analyst"), ("demo-billing", "billing"),
                         ("agent-claire", "agent"), ("agent-karim", "agent")}, result.stdout[-2500:]

    from ledger.db import make_engine
    from ledger.tables import Customer, CustomerNote, CustomerScore, Dispute, DunningAction, Invoice, Promise

    with Session(make_engine(f"sqlite:///{tmp_path / 'demo.db'}")) as session:
        assert session.exec(select(func.count()).select_from(Invoice)).one() > 500
        assert session.exec(select(func.count()).select_from(DunningAction)).one() > 0
        assert session.exec(select(func.count()).select_from(CustomerScore)).one() == 40
        # weeks of contact history, each contact completed; key accounts dunned gently; the
        # approval queue the demo prints is the one stored (the full-size demo, 300 customers,
        # has formal notices and legal hand-offs in it)
        assert session.exec(select(func.count()).select_from(DunningAction)
                            .where(DunningAction.state == "sent")).one() > 0
        # key accounts are on the gentle scenario, and whatever the run planned for them follows it
        # (40 customers: the day's run may plan nothing for them; the imported history has no scenario)
        enterprise = select(Customer.customer_id).where(Customer.segment == "enterprise")
        assert set(session.exec(select(Customer.dunning_scenario).where(Customer.segment == "enterprise")
                                .distinct()).all()) == {"gentle"}
        planned_for_them = set(session.exec(select(DunningAction.scenario).where(
            DunningAction.customer_id.in_(enterprise), DunningAction.scenario.is_not(None)).distinct()).all())
        assert planned_for_them <= {"gentle"}
        assert "standard" in set(session.exec(select(DunningAction.scenario).distinct()).all())
        waiting = session.exec(select(func.count(func.distinct(DunningAction.reminder_id)))
                               .where(DunningAction.state == "pending_approval")).one()
        # the workbench's history: two portfolios, calls, notes, promises, disputes, sent reminders
        agents = dict(session.exec(select(Customer.assigned_agent, func.count()).group_by(Customer.assigned_agent)).all())
        assert agents.get("agent-claire", 0) > 0 and agents.get("agent-karim", 0) > 0
        calls = session.exec(select(DunningAction.created_by, func.count()).where(DunningAction.channel == "call",
                                                                                  DunningAction.state == "sent")
                             .group_by(DunningAction.created_by)).all()
        assert {actor for actor, _ in calls} >= {"agent:agent-claire", "agent:agent-karim"}
        assert session.exec(select(func.count()).select_from(CustomerNote)).one() >= 4
        assert session.exec(select(func.count()).select_from(Promise).where(Promise.created_by.like("agent:%"))).one() >= 2
        assert session.exec(select(func.count()).select_from(Dispute).where(Dispute.status == "in_review")).one() >= 1
        sent = session.exec(select(func.count()).select_from(DunningAction).where(
            DunningAction.state == "sent", DunningAction.channel != "call")).one()
        assert sent > 0
        # the demo explores (docs/policy.md): some e-mail reminders were varied at random, with
        # their probability stored; formal notices never are
        from ledger.tables import PolicyEvaluation

        explored = session.exec(select(DunningAction.channel).where(DunningAction.propensity < 1)).all()
        assert explored and set(explored) <= {"email", "call"}
        # and it evaluated a learned policy on a simulator ledger, stored for the model page
        evaluation = session.exec(select(PolicyEvaluation)).one()
        low, high = evaluation.result["dr_ci"]
        assert low <= evaluation.result["dr"] <= high and evaluation.result["simulated"] is not None
        # stored with its model, so that activating it makes the daily run use exactly it
        from ledger.tables import PolicyModel

        model = session.get(PolicyModel, evaluation.id)
        assert model is not None and evaluation.definition["model_sha256"] == model.sha256
    assert f"{waiting} awaiting approval" in result.stdout
    assert f"evaluation #{evaluation.id} stored" in result.stdout
