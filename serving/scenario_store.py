"""The scenarios and templates in force: the shipped ones, as an analyst edited them.

Edited scenarios and templates live in the database (`ledger.saved_scenarios`) so every server sees the
same ones; this module reads them and hands the decision path (`serving.decisions`) a `Rulebook`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import ValidationError
from sqlmodel import Session

from ledger import saved_scenarios as saved
from serving.scenarios import (
    DEFAULT_TEMPLATES,
    Scenario,
    accepted_names,
    load_default_scenarios,
    load_default_segment_map,
    parse_scenario,
    resolve_scenario,
)

log = logging.getLogger(__name__)


def known_templates(session: Session) -> frozenset[str]:
    """Template names a scenario step may use: `{channel}_{tone}`, plus any edited one."""
    edited = {name.split(".")[0] for name in saved.stored_templates(session)}
    return DEFAULT_TEMPLATES | edited


def edited_templates(session: Session) -> dict[str, str]:
    """The analyst's edited templates (name → source), searched before the shipped ones.

    Handed to the renderer as a mapping: nothing is written to disk."""
    return saved.stored_templates(session)


def load_scenarios(session: Session) -> dict[str, Scenario]:
    """The shipped scenarios, each replaced by its edited version when one is stored."""
    scenarios = dict(load_default_scenarios())
    templates = known_templates(session)
    for name, body in saved.stored_scenarios(session).items():
        try:
            scenarios[name] = parse_scenario(body, templates=templates)
        except ValidationError as exc:  # validated when saved; a later template removal may break it
            log.warning("stored scenario %s no longer validates, shipped default used: %s", name, exc)
    return scenarios


def scenario_names(session: Session) -> frozenset[str]:
    """What a customer's `dunning_scenario` may say at ingestion: a scenario's name (shipped or
    edited) or a key of the segment → scenario table."""
    return accepted_names(load_scenarios(session), load_default_segment_map())


@dataclass(frozen=True)
class Rulebook:
    """Everything besides a customer's facts that a decision depends on: the scenarios in force
    and the segment → scenario table."""

    scenarios: dict[str, Scenario]
    segment_map: dict[str, str]

    def scenario_of(self, *, dunning_scenario: str | None, segment: str | None
                    ) -> tuple[Scenario, str | None]:
        """(the customer's scenario, the unknown name it replaced or None)."""
        return resolve_scenario(customer_scenario=dunning_scenario, segment=segment,
                                scenarios=self.scenarios, segment_map=self.segment_map)


def load_rulebook(session: Session) -> Rulebook:
    return Rulebook(scenarios=load_scenarios(session), segment_map=load_default_segment_map())
