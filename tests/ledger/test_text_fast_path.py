"""The regex that lets clean text skip the per-character loop (ledger.schemas) refuses exactly what
the loop refuses: every code point of Unicode category Cc or Cs, line breaks allowed in multiline
text — checked over all of Unicode — and the message still names the first offending character."""
from __future__ import annotations

import unicodedata

from ledger.schemas import _UNFIT, _UNFIT_MULTILINE, LINE_BREAKS, text_problem


def test_the_fast_path_refuses_exactly_the_control_and_surrogate_code_points():
    for code_point in range(0x110000):
        char = chr(code_point)
        unfit = unicodedata.category(char) in ("Cc", "Cs")
        assert bool(_UNFIT.search(char)) == unfit, hex(code_point)
        assert bool(_UNFIT_MULTILINE.search(char)) == (unfit and char not in LINE_BREAKS), hex(code_point)


def test_messages_name_the_first_offending_character():
    assert text_problem("Société Générale, 12 rue d'Été") is None
    assert text_problem("ab\x00c\x01") == "contains the control character U+0000 at position 2"
    assert text_problem("a\nb") == "contains the control character U+000A at position 1"
    assert text_problem("a\nb\x85", multiline=True) == "contains the control character U+0085 at position 3"
    assert text_problem("x\ud800") == "contains an unpaired surrogate U+D800 at position 1"
