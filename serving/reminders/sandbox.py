"""The sandbox every reminder template is compiled and rendered in (`_environment`): Jinja2's
`ImmutableSandboxedEnvironment` with our filters, bounded in time (`_deadline`, the thread's CPU
time) and output (`_bounded_render`), and the sentences that explain a failure in our words
(`explain_failure`). Served by `serving.reminders.render`, which re-exports what callers use."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    DictLoader,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    UndefinedError,
    pass_context,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from serving.money import long_date, money, rate, short_date
from serving.reminders.context import RenderLimitError

TEMPLATE_DIR = Path(__file__).parent / "templates"
LANGUAGES = ("fr", "en")


# bounds of one render: a template is text with a few loops over a reminder's invoices, so these
# are far above any real reminder and far below what would hold a server thread or its memory
MAX_RENDER_SECONDS = 2.0
MAX_OUTPUT_CHARS = 200_000
MAX_SEQUENCE_ITEMS = 100_000  # `*` and `**` on strings, lists and numbers




@pass_context
def _money(ctx: Any, amount: Decimal) -> str:
    # plain spaces: SMS (GSM-7) and the PDF core fonts cannot carry the no-break ones
    return money(amount, ctx["currency"], ctx["language"], plain=True)


@pass_context
def _eur(ctx: Any, amount: Decimal) -> str:
    return money(amount, "EUR", ctx["language"], plain=True)


@pass_context
def _date(ctx: Any, value: date, long: bool = False) -> str:
    return long_date(value, ctx["language"]) if long else short_date(value, ctx["language"])


@pass_context
def _percent(ctx: Any, value: Decimal) -> str:
    return rate(value, ctx["language"], plain=True)


def _nl2br(value: str) -> Markup:
    """Keep a block's line breaks in HTML; plain strings are escaped first."""
    text = value if isinstance(value, Markup) else escape(value)
    return Markup("<br>\n").join(text.split("\n"))


class _ReminderSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, plus bounds on the operators that could allocate without limit."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > 64:
                raise RenderLimitError("exponent too large")
            return left ** right
        for size, count in ((left, right), (right, left)):
            if isinstance(size, str | list | tuple) and isinstance(count, int) \
                    and len(size) * count > MAX_SEQUENCE_ITEMS:
                raise RenderLimitError("repetition too large")
        return left * right


@functools.lru_cache(maxsize=32)
def _cached_environment(edited: tuple[tuple[str, str], ...], template_dir: str | None,
                        html: bool) -> ImmutableSandboxedEnvironment:
    loaders: list[BaseLoader] = [DictLoader(dict(edited))] if edited else []
    if template_dir:
        loaders.append(FileSystemLoader(template_dir))
    loaders.append(FileSystemLoader(str(TEMPLATE_DIR)))
    env = _ReminderSandbox(
        loader=ChoiceLoader(loaders),
        autoescape=html,
        undefined=StrictUndefined,  # a typo in an analyst's template fails loudly, not blank
        trim_blocks=True,  # a tag alone on its line leaves no blank line
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(money=_money, eur=_eur, date=_date, percent=_percent, nl2br=_nl2br)
    _warm_formatting()
    # filters and globals whose size argument is unbounded (a 10⁹-wide `center`): not offered
    for name in ("center", "indent", "wordwrap", "filesizeformat", "pprint", "xmlattr", "urlize"):
        env.filters.pop(name, None)
    env.globals.pop("lipsum", None)
    return env


@functools.cache
def _warm_formatting() -> None:
    """Load Babel's locale data once, outside any render: the first format in a process reads
    it from disk, and that must not count against a template's time bound (`_deadline`)."""
    for language in LANGUAGES:
        money(Decimal("1"), "EUR", language), money(Decimal("1"), "CHF", language)
        long_date(date(2000, 1, 1), language), short_date(date(2000, 1, 1), language)
        rate(Decimal("1"), language)


def _environment(templates: Mapping[str, str] | None, template_dir: Path | str | None, *,
                 html: bool) -> ImmutableSandboxedEnvironment:
    """THE environment every reminder template is compiled and rendered in (one place).

    Edited templates come from the database as a mapping (no temporary folder on disk); one
    environment per distinct set is kept, so a dunning run compiles each template once."""
    edited = tuple(sorted(templates.items())) if templates else ()
    return _cached_environment(edited, str(template_dir) if template_dir else None, html)


@contextmanager
def _deadline(env: ImmutableSandboxedEnvironment, seconds: float) -> Iterator[None]:
    """Stop the template's own code (loops, macros) once it has used `seconds` of CPU.

    A line tracer on the frames compiled from `env`'s templates, for this thread only: Jinja has
    no time bound of its own, and a thread cannot be stopped from outside. Other frames (filters,
    our formatting) are not traced, so the cost stays on the template's few lines. The clock is
    this thread's CPU time, not the wall clock: a runaway loop burns CPU either way, while a
    busy machine (other processes, a first import of locale data) must not fail a fair letter."""
    deadline = time.thread_time() + seconds

    def on_line(frame: Any, event: str, arg: Any) -> Callable | None:
        if time.thread_time() > deadline:
            raise RenderLimitError("time")
        return on_line

    def on_call(frame: Any, event: str, arg: Any) -> Callable | None:
        # a compiled template's module globals hold the environment it was compiled in
        return on_line if frame.f_globals.get("environment") is env else None

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        yield
    finally:
        sys.settrace(previous)


def _bounded_render(env: ImmutableSandboxedEnvironment, template: Template,
                    variables: Mapping[str, Any]) -> str:
    """Render within MAX_RENDER_SECONDS and MAX_OUTPUT_CHARS, streaming so the bound holds early."""
    chunks: list[str] = []
    size = 0
    with _deadline(env, MAX_RENDER_SECONDS):
        for chunk in template.generate(variables):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise RenderLimitError("output")
            chunks.append(chunk)
    return "".join(chunks)


def _template_line(exc: BaseException) -> int | None:
    """The template line an error happened on (Jinja rewrites tracebacks to point at it)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__jinja_template__") is not None or \
                tb.tb_frame.f_code.co_filename.endswith((".j2", "<template>")):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def explain_failure(exc: BaseException) -> str:
    """A sentence about why a template failed, in our words: never the exception's own text,
    which may quote server internals."""
    where = _template_line(exc)
    at = f" (line {where})" if where else ""
    if isinstance(exc, RenderLimitError):
        if str(exc) == "time":
            return (f"rendering took more than {MAX_RENDER_SECONDS:g} s{at}: "
                    "the template loops too much and was stopped")
        if str(exc) == "output":
            return (f"the rendered text would exceed {MAX_OUTPUT_CHARS:,} characters{at}: "
                    "the template was cut off and refused")
        return (f"the template repeats a value more than {MAX_SEQUENCE_ITEMS:,} times{at}, "
                "which is refused")
    if isinstance(exc, OverflowError):
        return f"the template asks for a range of more than {MAX_RANGE:,} items{at}, which is refused"
    if isinstance(exc, SecurityError):
        return (f"the template uses an attribute or operation the sandbox forbids{at} "
                "(Python internals, or changing the reminder's data)")
    if isinstance(exc, UndefinedError):
        return f"the template uses a variable or attribute a reminder does not have{at}"
    if isinstance(exc, TemplateNotFound):
        return "the template extends or includes a template that does not exist"
    return f"the template fails when rendered{at} ({type(exc).__name__})"
