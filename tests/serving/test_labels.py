"""The one catalogue of words (serving/labels.py): every code the system can produce has a French
and an English label, and an unknown code is shown as words, never as an identifier."""
from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest

from features import synth
from ledger import contacts as contact_log
from ledger import disputes as dispute_log
from ledger import kpis, workflow, worklist_rows
from ledger.statuses import CustomerType
from serving.auth import ROLES
from serving.labels import CODES, UI, catalogue, humanise, label

SCENARIOS = json.loads((Path(__file__).resolve().parents[2] / "serving" / "data" / "scenarios.json").read_text())


def produced() -> list[tuple[str, str]]:
    """(kind, code) for every code a page may receive."""
    steps = [s for sc in SCENARIOS["scenarios"] for s in sc["steps"]]
    codes = (
        [("outcome", c) for c in contact_log.CALL_OUTCOMES]
        + [("reason", c) for c in get_args(dispute_log.ReasonCode)] + [("reason", str(c)) for c in synth.DISPUTE_REASONS]
        + [("dispute", c) for c in get_args(workflow.DisputeStatus)]
        + [("promise", c) for c in ("open", "kept", "broken", "cancelled")]
        + [("bucket", c) for c in worklist_rows.BUCKETS + kpis.BUCKETS]
        + [("role", c) for c in ROLES]
        + [("customer_type", c) for c in get_args(CustomerType)]
        + [("segment", str(c)) for c in synth.SEGMENTS]
        + [("step", s["name"]) for s in steps] + [("channel", s["channel"]) for s in steps]
        + [("tone", s["tone"]) for s in steps] + [("scenario", sc["name"]) for sc in SCENARIOS["scenarios"]]
        + [("scenario", name) for name in SCENARIOS["segment_map"]]
        + [("action", c) for c in ("wait", "email", "sms", "call", "letter", "formal_notice", "legal")]
        + [("state", c) for c in ("planned", "pending_approval", "rendered", "sent", "posted", "delivered",
                                  "failed", "cancelled")]
        + [("kind", c) for c in ("invoice", "credit_note")]
        + [("status", c) for c in ("open", "overdue", "settled")]
    )
    return sorted(set(codes))


@pytest.mark.parametrize("kind,code", produced())
def test_every_code_has_its_own_words_in_both_languages(kind, code):
    fr, en = label(kind, code, "fr"), label(kind, code, "en")
    assert code in CODES[kind], (kind, code)
    assert fr and en and "_" not in fr and "_" not in en


def test_every_page_word_has_both_languages():
    assert [k for k, words in UI.items() if set(words) != {"fr", "en"} or not all(words.values())] == []


def test_the_flat_catalogue_the_pages_receive():
    french, english = catalogue("fr"), catalogue("en")
    assert french["reason_pricing"] == "Tarif contesté" and english["reason_pricing"] == "Pricing disputed"
    assert french["segment_mid_market"] == "ETI" and english["step_formal_notice"] == "Formal notice"
    assert french["field_n_fit"] == "Factures d'ajustement" and catalogue("de") == french  # French by default
    assert set(french) == set(english)


def test_an_unknown_code_is_words_not_an_identifier():
    assert label("segment", "very_big_fish", "fr") == "Very big fish" == humanise("very_big_fish")
    assert label("segment", None) == "—" and label("nope", "") == "—"
