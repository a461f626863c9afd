"""Edited reminder templates run in Jinja2's sandbox, bounded in time and size; the client never
reads an exception's text; the renderer writes nothing to disk."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlmodel import Session

from serving.reminders import ReminderError, render_reminder, sample_context
from serving.reminders.render import _environment, validate_template
from tests.dunning.ledger_fixture import RUN_DATE, build_ledger

NAME = "email_neutral.fr.j2"
URL = f"/api/v1/dunning/templates/{NAME}"
# the classic escape: from a Jinja global to the os module (it runs `touch` on plain Jinja2)
ESCAPE = "{{ cycler.__init__.__globals__.os.popen('touch %s').read() }}"


def _put(client, keys, source: str):
    return client.put(URL, json={"source": source}, headers=keys["analyst"])


def test_every_environment_is_the_immutable_sandbox():
    for html in (False, True):
        assert isinstance(_environment({NAME: "x"}, None, html=html), ImmutableSandboxedEnvironment)
        assert isinstance(_environment(None, None, html=html), ImmutableSandboxedEnvironment)


def test_a_template_cannot_reach_python_internals(client, keys, tmp_path):
    marker = tmp_path / "pwned"
    response = _put(client, keys, ESCAPE % marker)
    assert response.status_code == 422
    assert not marker.exists()
    body = response.json()
    assert body["errors"][0]["field"] == "source"
    assert "sandbox forbids" in body["errors"][0]["message"]
    # our sentence, not Jinja's ("access to attribute '__init__' of 'Cycler' object is unsafe")
    assert "__init__" not in response.text and "unsafe" not in response.text
    assert "SecurityError" not in response.text
    # nothing was stored: the shipped template is still the one served
    assert client.get(URL, headers=keys["analyst"]).json()["edited"] is False


def test_subclass_walk_is_refused_too(client, keys):
    response = _put(client, keys, "{{ ''.__class__.__mro__[1].__subclasses__() }}")
    assert response.status_code == 422
    assert "__subclasses__" not in response.text and "__mro__" not in response.json()["errors"][0]["message"]


def test_a_huge_range_is_refused_with_a_sentence(client, keys):
    response = _put(client, keys, "{% for i in range(30000000) %}x{% endfor %}")
    assert response.status_code == 422
    message = response.json()["errors"][0]["message"]
    assert "range of more than 100,000 items" in message
    assert "OverflowError" not in response.text and "MAX_RANGE" not in response.text


def test_a_template_that_loops_without_end_is_stopped(client, keys):
    # 10¹⁰ iterations that print nothing: only the time bound can stop it
    source = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    response = _put(client, keys, source)
    assert response.status_code == 422
    assert "loops too much" in response.json()["errors"][0]["message"]


def test_output_is_bounded(client, keys):
    response = _put(client, keys, "{% for i in range(100000) %}0123456789{% endfor %}")
    assert response.status_code == 422
    assert "would exceed 200,000 characters" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("source", ["{{ 'x' * 1000000000 }}", "{{ [1] * 1000000000 }}",
                                    "{{ 10 ** 100000000 }}", "{{ 'x' | center(1000000000) }}",
                                    "{{ lipsum(1000000000) }}"])
def test_operators_and_filters_that_allocate_without_bound_are_refused(source):
    assert validate_template(source) != []


def test_a_failing_stored_template_is_explained_without_its_exception(tmp_path):
    # a template that validated may still fail on real data: the sentence is ours
    with pytest.raises(ReminderError) as caught:
        render_reminder(channel="email", tone="neutral", language="fr", context=sample_context(),
                        templates={NAME: "{{ company.__class__.__base__ }}"})
    assert "sandbox forbids" in str(caught.value) and "__class__" not in str(caught.value)


def test_edited_templates_need_no_temporary_folder(client, keys, db, tmp_path, monkeypatch):
    with Session(db) as session:
        build_ledger(session)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    source = client.get(URL, headers=keys["analyst"]).json()["source"]
    for marker in ("UN", "DEUX"):  # two distinct template sets: the old renderer made two folders
        edited = source.replace("Sauf erreur de notre part", f"MARQUEUR-{marker} Sauf erreur de notre part")
        assert _put(client, keys, edited).status_code == 200
        run = client.post("/api/v1/dunning/runs", json={"date": str(RUN_DATE), "dry_run": True},
                          headers=keys["analyst"])
        assert run.status_code == 200
    client.post("/api/v1/dunning/runs", json={"date": str(RUN_DATE)}, headers=keys["analyst"])
    action = client.get("/api/v1/dunning/actions", params={"customer_id": "C1"},
                        headers=keys["analyst"]).json()["items"][0]
    reminder = client.get(f"/api/v1/reminders/{action['reminder_id']}", headers=keys["analyst"]).json()
    assert "MARQUEUR-DEUX" in reminder["body_text"]
    assert [p.name for p in Path(tmp_path).iterdir() if p.name.startswith("relance-templates")] == []
