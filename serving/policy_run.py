"""The active reminder policy in the daily run (and in next-action, which asks the same path).

When an analyst has activated an evaluated policy (``ledger.policies``), ``chooser_for`` builds
the ``serving.decisions`` chooser that applies it: for each invoice whose first reminder
(``FIRST_STEP``) is an e-mail the scenario decided, it picks, among the same acceptable
variants exploration draws from (``serving.exploration.variants``: the other of courteous /
neutral, a courteous e-mail three business days later, a call from 1,000 up — never a letter,
a formal notice or a legal step, never earlier than the scenario), the arm the stored candidate
predicts best, keeping the scenario's own unless another is better by the learned margin.

The candidate is exactly the one evaluated: its payload is stored with the evaluation and its
SHA-256 checked at load (``model.policy_model``). Its features
(``features.decisions.FEATURES``) are computed once per run chunk, vectorised, for every open
invoice of the chunk that may get its first reminder, as of the Monday of the run's week (as the
evaluation and the simulator read them). The action records the policy's id and the probability
of the arm taken: 1.0 when exploration is off; with exploration on, the policy's arm with
1 − e + e/k and each other with e/k, so that later evaluations stay valid.

A policy that cannot be used (stored model missing, altered or unreadable, features failing)
never stops the run: the scenarios' rules decide (with exploration when it is on) and the run
warns, in French and English, without the error's text.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

import numpy as np
import pandas as pd
from sqlmodel import Session

from features.decisions import ARM_INDEX, ARM_NAMES, ledger_features
from ledger import policies, policy_history, run_facts
from ledger.config import get_settings
from model.policy_file import PolicyFileError, parse
from model.policy_model import PolicyModelError, StoredPolicy, choose_from, dump, load, preferences, sha256
from serving.choosing import Chooser, Chosen, policy_choice
from serving.exploration import ExploringChooser, explored_reason, mixed_draw, variants, vary
from serving.labels import RunWarning, run_warning
from serving.policy import Decision, InvoiceState, Reason
from serving.scenario_store import Rulebook

FIRST_STEP = "first_reminder"
# exploration's variants (channel, tone, business days later) as the arms a policy learns
OPTION_ARMS: dict[tuple[str, str, int], str] = {
    ("email", "courteous", 0): "email_courteous",
    ("email", "neutral", 0): "email_neutral",
    ("email", "courteous", 3): "email_courteous_later",
    ("call", "neutral", 0): "call",
}
log = logging.getLogger(__name__)
_LOADED: dict[str, StoredPolicy] = {}  # by the payload's SHA-256


def chooser_for(session: Session, facts: run_facts.ChunkFacts, *, today: dt.date,
                rulebook: Rulebook) -> Chooser:
    """The chooser a run (or next-action) on ``today`` uses for these facts: the active policy's
    (with exploration around it when on), else exploration's, else the scenario's own choice.
    Read its ``warnings`` after deciding (``warnings_of``)."""
    exploration = get_settings().exploration
    rules: Chooser = ExploringChooser(exploration) if exploration > 0 else policy_choice
    record = policies.active_policy(session)
    if record is None:
        return rules
    try:
        policy = _load(session, record.id, record.definition)
    except (PolicyModelError, PolicyFileError) as error:
        log.warning("active policy #%s not applied: %s", record.id, error)  # for operators
        return _Fallback(rules, record.id)
    return PolicyChooser(session, facts, today=today, rulebook=rulebook, policy=policy,
                         policy_id=record.id, exploration=exploration, rules=rules)


def warnings_of(chooser: Chooser) -> list[RunWarning]:
    return list(getattr(chooser, "warnings", ()))


def _load(session: Session, evaluation_id: int, definition: dict[str, Any]) -> StoredPolicy:
    """The stored candidate, read and its hash checked on every call (a payload altered in the
    database is refused at once); parsed once per content (boosters are cached by hash)."""
    payload = policies.candidate_payload(session, evaluation_id)
    if payload is None:
        if definition.get("kind") == "file" and "file" in definition and "model_sha256" not in definition:
            # an analyst's file evaluated before candidates were stored: its rules are its definition
            payload, _ = dump(parse(definition["file"], source="stored policy"))
        else:
            raise PolicyModelError("no candidate stored with this evaluation")
    digest = sha256(payload)
    expected = definition.get("model_sha256", policies.candidate_hash(session, evaluation_id) or digest)
    if digest != expected:
        raise PolicyModelError("the stored candidate is not the one evaluated")
    found = _LOADED.get(digest)
    if found is None:
        if len(_LOADED) > 8:
            _LOADED.clear()
        found = _LOADED[digest] = load(payload, expected)
    return found


def _unavailable(policy_id: int) -> RunWarning:
    return run_warning("policy_unavailable", id=policy_id)


class _Fallback:
    """The rules' chooser, with the warning that the active policy could not be used."""

    def __init__(self, rules: Chooser, policy_id: int):
        self.rules, self.warnings = rules, [_unavailable(policy_id)]

    def __call__(self, invoice: InvoiceState, decision: Decision) -> Chosen:
        return self.rules(invoice, decision)


class PolicyChooser:
    """A ``serving.decisions.Chooser`` applying a stored policy to first reminders."""

    def __init__(self, session: Session, facts: run_facts.ChunkFacts, *, today: dt.date,
                 rulebook: Rulebook, policy: StoredPolicy, policy_id: int, exploration: float,
                 rules: Chooser):
        self.session, self.facts, self.today, self.rulebook = session, facts, today, rulebook
        self.policy, self.policy_id, self.exploration, self.rules = policy, policy_id, exploration, rules
        self.warnings: list[RunWarning] = []
        self._prefs: dict[str, np.ndarray] | None = None

    def __call__(self, invoice: InvoiceState, decision: Decision) -> Chosen:
        options = variants(invoice, decision)
        arms = [OPTION_ARMS.get(option) for option in options]
        if decision.step != FIRST_STEP or len(options) == 1 or None in arms:
            return self.rules(invoice, decision)
        prefs = self._preferences().get(invoice.invoice_id)
        if prefs is None:  # the policy could not be asked (warned): the rules decide
            return self.rules(invoice, decision)
        allowed = np.zeros((1, len(ARM_NAMES)), dtype=bool)
        allowed[0, [ARM_INDEX[a] for a in arms if a is not None]] = True
        own = ARM_INDEX[arms[0] or ""]
        picked = ARM_NAMES[int(choose_from(self.policy, prefs[None, :], allowed, np.array([own]))[0])]
        preferred = arms.index(picked)
        if self.exploration > 0:
            index, probabilities = mixed_draw(invoice, decision, len(options), preferred, self.exploration)
            propensity = probabilities[index]
        else:
            index, propensity = preferred, 1.0
        reason = (_policy_reason(self.policy_id, options[index], changed=index != 0) if index == preferred
                  else explored_reason(options[index], propensity))
        chosen = vary(decision, options[index], reason) if index != 0 else \
            dataclasses.replace(decision, reasons=[*decision.reasons, reason])
        return Chosen(chosen, propensity=propensity, policy_id=self.policy_id)

    def _preferences(self) -> dict[str, np.ndarray]:
        """Every candidate invoice's preferences, computed once for the chunk."""
        if self._prefs is not None:
            return self._prefs
        self._prefs = {}
        candidates = [i for i in self.facts.invoices if i.due_date < self.today
                      and FIRST_STEP not in self.facts.steps_done.get(i.invoice_id, ())]
        if not candidates:
            return self._prefs
        try:
            frame = self._frame(candidates)
            self._prefs = dict(zip(frame["invoice_id"], preferences(self.policy, frame), strict=True))
        except Exception:  # noqa: BLE001  (a policy must never stop the run: the rules decide)
            log.exception("active policy #%s: features or predictions failed", self.policy_id)
            self.warnings.append(_unavailable(self.policy_id))
        return self._prefs

    def _frame(self, candidates: list[run_facts.OpenInvoice]) -> pd.DataFrame:
        week_start = self.today - dt.timedelta(days=self.today.weekday())
        history = policy_history.load(self.session, [i.customer_id for i in candidates], week_start)
        scenario = {}
        for customer_id in {i.customer_id for i in candidates}:
            customer = self.facts.customers[customer_id]
            scenario[customer_id] = self.rulebook.scenario_of(
                dunning_scenario=customer.dunning_scenario, segment=customer.segment)[0].name
        frame = pd.DataFrame({
            "invoice_id": [i.invoice_id for i in candidates],
            "customer_id": [i.customer_id for i in candidates],
            "decided_on": pd.Timestamp(self.today),
            "amount": [float(i.amount) for i in candidates],
            "terms_days": [float(history.terms_days.get(i.customer_id) or (i.due_date - i.issue_date).days)
                           for i in candidates],
            "scenario": [scenario[i.customer_id] for i in candidates],
        })
        return ledger_features(frame, history)


def _policy_reason(policy_id: int, option: tuple[str, str, int], *, changed: bool) -> Reason:
    channel, tone, later = option
    what_fr = f"{channel}, ton {tone}" + (", trois jours ouvrés plus tard" if later else "")
    what_en = f"{channel}, {tone} tone" + (", three business days later" if later else "")
    if changed:
        return Reason("learned_policy",
                      f"Choisi par la politique de relance active n° {policy_id} (évaluée, activée par "
                      f"un analyste) parmi les actions acceptables : {what_fr}",
                      f"Chosen by the active reminder policy #{policy_id} (evaluated, activated by an "
                      f"analyst) among the acceptable actions: {what_en}")
    return Reason("learned_policy",
                  f"La politique de relance active n° {policy_id} garde l'action du scénario : {what_fr}",
                  f"The active reminder policy #{policy_id} keeps the scenario's action: {what_en}")
