"""The one catalogue of words a person reads: page words (`UI`) and a label for every code
(`CODES`: segments, dispute reasons, invoice kinds, actions and steps, states, channels, tones,
call outcomes, model fields…), French first, English with `?lang=en`.

No raw code reaches a person: pages ask `label(kind, code, lang)` (or the flattened
`catalogue(lang)` that app.js receives), and a code the catalogue does not know is shown as
words (underscores become spaces) rather than as an identifier. Money, numbers and dates are written by
serving/money.py (Babel), for the pages too (`POST /formats`) — `tests/serving/test_labels.py`
checks that every code the system can produce has a real label.
"""
from __future__ import annotations

from typing import Literal

from ledger.config import get_settings
from serving.words.cli import (
    DUNNING_COLUMNS,
    DUNNING_COLUMNS_PENDING,
    DUNNING_WORDS,
    FEC_WORDS,
    FX_WORDS,
    MESSAGES,
    MODEL_WORDS,
)
from serving.words.codes import CODES
from serving.words.run import RUN_WARNINGS, RunWarning, run_warning
from serving.words.ui import UI

__all__ = ["CODES", "DUNNING_COLUMNS", "DUNNING_COLUMNS_PENDING", "DUNNING_WORDS", "FEC_WORDS",
           "FX_WORDS", "MESSAGES", "MODEL_WORDS", "RUN_WARNINGS", "UI", "RunWarning", "catalogue",
           "humanise", "label", "language_of", "run_warning", "t", "ui"]

Language = Literal["fr", "en"]


def language_of(lang: str | None) -> Language:
    return "en" if lang == "en" else "fr"


def humanise(code: str) -> str:
    """A code the catalogue does not know, as words (never an identifier on a page)."""
    return code.replace("_", " ").strip().capitalize() or "—"


def label(kind: str, code: str | None, lang: str | None = "fr") -> str:
    """The label of `code` (of kind `kind`: segment, reason, step…) in the language."""
    if code is None or code == "":
        return "—"
    words = CODES.get(kind, {}).get(code)
    if words is None:
        return humanise(code)
    return words[1] if language_of(lang) == "en" else words[0]


def ui(key: str, lang: str | None = "fr", **values: object) -> str:
    words = UI[key]
    text = words.get(language_of(lang)) or words["fr"]
    return text.format(**values) if values else text


def catalogue(lang: str | None) -> dict[str, str]:
    """Every word of one language, flattened for the pages: UI keys as they are, codes as
    `kind_code` (e.g. `step_first_reminder`, `reason_pricing`)."""
    language = language_of(lang)
    flat = {key: words.get(language) or words["fr"] for key, words in UI.items()}
    for kind, codes in CODES.items():
        for code, (fr, en) in codes.items():
            flat[f"{kind}_{code}"] = en if language == "en" else fr
    return flat


def t(key: str, lang: str | None = None, **values: object) -> str:
    """A word of the command line (`MESSAGES`), in `lang` or the server's language."""
    lang = lang or get_settings().language
    text = MESSAGES[key].get(lang) or MESSAGES[key]["fr"]
    return text.format(**values) if values else text
