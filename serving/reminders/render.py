"""Render reminders from Jinja2 templates, in French and English, and letters as PDF.

Template names follow ``{channel}_{tone}.{language}.j2`` (e.g. ``email_firm.fr.j2``); files whose
name starts with ``_`` are shared layouts that tone templates extend. Each template defines the
blocks ``subject``, ``text`` and, for email, ``html``; the layout picks one per render (``part``).
Subject and text are rendered without escaping, HTML with autoescape on.

Fallback when a template is missing: a formal notice (mise en demeure) is always ``formal``; other
channels fall back along formal → firm → neutral and courteous → neutral (so ``sms_formal`` uses
``sms_firm``); a missing language falls back to French. An analyst's edited templates (``templates``,
a name → source mapping read from the database) are searched before the shipped ones, so editing one
overrides just that template; ``template_dir`` does the same from a folder.

Templates are written by people (analysts), so they never run as plain Jinja2: every render and
every validation goes through :func:`_environment`, an ``ImmutableSandboxedEnvironment`` (no Python
attributes such as ``__class__``, no mutation of the context) with bounded time and output size
(:func:`_bounded_render`). Errors are turned into sentences of our own; the exception text of a
failing template never reaches a client.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from fpdf import FPDF
from jinja2 import (
    TemplateNotFound,
    TemplateSyntaxError,
    meta,
    nodes,
)

from serving.reminders.context import (
    DEFAULT_DEADLINE_DAYS,
    DEFAULT_LANGUAGE,
    Company,
    Contact,
    Customer,
    InvoiceLine,
    PenaltyClaim,
    ReminderContext,
    ReminderError,
    RenderedReminder,
    RenderLimitError,
    TemplateInfo,
)
from serving.reminders.sandbox import (
    LANGUAGES,
    TEMPLATE_DIR,
    _bounded_render,
    _environment,
    explain_failure,
)
from serving.scenarios import CHANNELS as SCENARIO_CHANNELS
from serving.scenarios import FIXED_TONE, TONES

__all__ = [
    "CHANNELS", "DEFAULT_DEADLINE_DAYS", "DEFAULT_LANGUAGE", "LANGUAGES", "NAME_PATTERN", "TONES",
    "Company", "Contact", "Customer", "InvoiceLine", "PenaltyClaim", "ReminderContext",
    "ReminderError", "RenderLimitError", "RenderedReminder", "TemplateInfo", "available_templates",
    "explain_failure", "render_pdf", "render_pdfs", "render_reminder", "resolve_template",
    "sample_context", "validate_template",
]

# every channel has templates; the legal hand-off's is the file handed to the lawyer
CHANNELS = SCENARIO_CHANNELS
PARTS = ("subject", "text", "html")
HTML_CHANNELS = ("email",)  # the other channels have no HTML body
# which file renders when the decided template is missing (the tone itself is never changed:
# it was decided once, serving.decisions.reminder_voice)
TONE_FALLBACK = {"formal": "firm", "firm": "neutral", "courteous": "neutral"}
NAME_PATTERN = re.compile(
    r"^(?P<channel>[a-z_]+)_(?P<tone>courteous|neutral|firm|formal)\.(?P<language>[a-z]{2})\.j2$"
)


log = logging.getLogger(__name__)



def _candidates(channel: str, tone: str, language: str) -> list[str]:
    tones = [FIXED_TONE.get(channel, tone)]
    while tones[-1] in TONE_FALLBACK and channel not in FIXED_TONE:
        tones.append(TONE_FALLBACK[tones[-1]])
    languages = [language] if language == DEFAULT_LANGUAGE else [language, DEFAULT_LANGUAGE]
    return [f"{channel}_{t}.{lang}.j2" for lang in languages for t in tones]


def _check_choice(*, channel: str, tone: str, language: str) -> None:
    for name, value, allowed in (
        ("channel", channel, CHANNELS), ("tone", tone, TONES), ("language", language, LANGUAGES)
    ):
        if value not in allowed:
            raise ReminderError(f"unknown {name} {value!r}; expected one of {', '.join(allowed)}")


def resolve_template(
    *, channel: str, tone: str, language: str, template_dir: Path | str | None = None,
    templates: Mapping[str, str] | None = None,
    template: str | None = None,
) -> str:
    """The template file that renders (channel, tone, language), after the fallback rule; a
    scenario step's `template` (e.g. `letter_formal`) comes first when it exists."""
    _check_choice(channel=channel, tone=tone, language=language)
    env = _environment(templates, template_dir, html=False)
    named = []
    if template and re.fullmatch(r"[a-z_]+_(courteous|neutral|firm|formal)", template):
        named = [f"{template}.{language}.j2"] + (
            [f"{template}.{DEFAULT_LANGUAGE}.j2"] if language != DEFAULT_LANGUAGE else [])
    for name in [*named, *_candidates(channel, tone, language)]:
        try:
            env.get_template(name)
            return name
        except TemplateNotFound:
            continue
    raise ReminderError(f"no template for {channel}/{tone}/{language}")


def _variables(context: ReminderContext, *, channel: str, tone: str, language: str) -> dict:
    overdue = tuple(line for line in context.invoices if line.overdue)
    return {
        "overdue_invoices": overdue,
        "upcoming_invoices": tuple(line for line in context.invoices if not line.overdue),
        "overdue_total": sum((line.open_amount for line in overdue), Decimal("0")),
        "earlier_contacts": context.earlier_contacts,
        "first_contact": not context.earlier_contacts,
        "payment_reference": context.payment_reference,
        "company": context.company,
        "customer": context.customer,
        "invoices": context.invoices,
        "total": context.total,
        "total_due": context.total_due,
        "currency": context.currency,
        "penalties": context.penalties,
        "payment_instructions": context.payment_instructions,
        "today": context.today,
        "deadline": context.deadline,
        "deadline_days": context.deadline_days,
        "agent_name": context.agent_name,
        "extra": context.extra,
        "channel": channel,
        "tone": tone,
        "language": language,
        "overdue": bool(overdue),
    }


KNOWN_VARIABLES = frozenset({
    "company", "customer", "invoices", "total", "total_due", "currency", "penalties",
    "payment_instructions", "today", "deadline", "deadline_days", "agent_name", "extra",
    "channel", "tone", "language", "part", "overdue", "overdue_invoices", "upcoming_invoices",
    "overdue_total", "earlier_contacts", "first_contact", "payment_reference",
})


def _clean(text: str) -> str:
    # templates are indented for readability; collapse runs of blank lines the blocks leave
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def render_reminder(
    *,
    channel: str,
    tone: str,
    language: str,
    context: ReminderContext | Mapping[str, Any],
    template_dir: Path | str | None = None,
    templates: Mapping[str, str] | None = None,
    template: str | None = None,
) -> RenderedReminder:
    """Render one reminder: subject, plain text, and HTML for email. `template`: the template the
    scenario step names, rendered when it exists (else the channel/tone fallback)."""
    if not isinstance(context, ReminderContext):
        context = ReminderContext.from_mapping(context)
    name = resolve_template(channel=channel, tone=tone, language=language, template_dir=template_dir,
                            templates=templates, template=template)
    variables = _variables(context, channel=channel, tone=tone, language=language)
    try:
        env = _environment(templates, template_dir, html=False)
        plain = env.get_template(name)
        subject = " ".join(_bounded_render(env, plain, {**variables, "part": "subject"}).split())
        body_text = _clean(_bounded_render(env, plain, {**variables, "part": "text"}))
        body_html = None
        if channel in HTML_CHANNELS:
            env = _environment(templates, template_dir, html=True)
            html = env.get_template(name)
            body_html = _clean(_bounded_render(env, html, {**variables, "part": "html"}))
    except Exception as exc:  # noqa: BLE001  (an analyst's template may fail in any way)
        log.warning("template %s failed to render", name, exc_info=True)
        raise ReminderError(f"template {name}: {explain_failure(exc)}") from exc
    return RenderedReminder(
        channel=channel, tone=tone, language=language, template=name,
        subject=subject, body_text=body_text, body_html=body_html or None,
    )


def available_templates(template_dir: Path | str | None = None,
                        templates: Mapping[str, str] | None = None) -> list[TemplateInfo]:
    """Every (channel, tone, language) template, the analyst's copies replacing shipped ones."""
    found: dict[str, TemplateInfo] = {}
    for folder in [TEMPLATE_DIR, *([Path(template_dir)] if template_dir else [])]:
        for path in sorted(folder.glob("*.j2")):
            _add_info(found, path.name, path, path.read_text(encoding="utf-8"))
    for name, source in (templates or {}).items():
        _add_info(found, name, None, source)
    return sorted(found.values(), key=lambda t: (t.channel, TONES.index(t.tone), t.language))


def _add_info(found: dict[str, TemplateInfo], name: str, path: Path | None, source: str) -> None:
    match = NAME_PATTERN.match(name)
    if match and match["channel"] in CHANNELS and match["language"] in LANGUAGES:
        found[name] = TemplateInfo(match["channel"], match["tone"], match["language"], name, path,
                                   source)


def sample_context(language: str = DEFAULT_LANGUAGE) -> ReminderContext:
    """A small realistic context: used to check templates and to preview them."""
    return ReminderContext(
        company=Company(name="Atelier Dupont SAS", address=("12 rue des Lilas", "69003 Lyon"),
                        email="compta@atelier-dupont.fr", phone="04 72 00 00 00",
                        siren="123 456 789", siret="123 456 789 00012",
                        vat_number="FR 32 123456789", iban="FR76 3000 6000 0112 3456 7890 189",
                        bic="AGRIFRPP", signatory="Julie Bernard",
                        signatory_title="Responsable du recouvrement"),
        customer=Customer(name="Boulangerie Martin & Fils", language=language,
                          address=("3 place du Marché", "38000 Grenoble"),
                          contact_name="Mme Martin"),
        invoices=(
            InvoiceLine("F-2024-0101", date(2024, 3, 1), date(2024, 3, 31), Decimal("10000.00"),
                        Decimal("10000.00"), 45, interest=Decimal("178.77"),
                        indemnity=Decimal("40.00"), rate_percent=Decimal("14.50")),
            InvoiceLine("F-2024-0150", date(2024, 4, 2), date(2024, 5, 2), Decimal("1234.56"),
                        Decimal("234.56"), 13, interest=Decimal("0.00"),
                        indemnity=Decimal("40.00"), rate_percent=Decimal("14.50")),
        ),
        today=date(2024, 5, 15),
        penalties=PenaltyClaim(interest=Decimal("178.77"), indemnity=Decimal("80.00"),
                               rate_percent=Decimal("14.50")),
        agent_name="Julie Bernard",
        earlier_contacts=(Contact(date(2024, 4, 3), "email"), Contact(date(2024, 4, 10), "call")),
        payment_reference="C-0042 / F-2024-0101, F-2024-0150",
    )


def validate_template(source: str, *, template_dir: Path | str | None = None,
                      templates: Mapping[str, str] | None = None) -> list[str]:
    """Problems in a template an analyst edited: syntax, unknown filters or variables, and a
    test render of every part against :func:`sample_context`, in the same sandbox and bounds as
    every real render. An empty list means it is fine. The sentences are ours (see
    :func:`explain_failure`): nothing of the server's exceptions is quoted."""
    env = _environment(templates, template_dir, html=False)
    try:
        tree = env.parse(source)
        template = env.from_string(source)  # compiling also catches unknown filters and tests
    except TemplateSyntaxError as exc:
        # the message describes the submitted text (an unclosed tag, an unknown filter)
        return [f"line {exc.lineno}: {exc.message}"]
    # a child template's top-level `{% import … as f %}` serves its blocks, which meta counts as
    # undeclared uses
    imported = {node.target for node in tree.find_all(nodes.Import)} | {
        name if isinstance(name, str) else name[1]
        for node in tree.find_all(nodes.FromImport) for name in node.names}
    problems = [
        f"unknown variable {name!r}"
        for name in sorted(meta.find_undeclared_variables(tree) - KNOWN_VARIABLES - imported)
    ]
    if problems:
        return problems
    variables = _variables(sample_context(), channel="email", tone="neutral", language="fr")
    for part in PARTS:
        try:
            _bounded_render(env, template, {**variables, "part": part})
        except Exception as exc:  # noqa: BLE001  (report whatever the edit broke)
            log.info("edited template refused while rendering %s", part, exc_info=True)
            problems.append(f"rendering {part}: {explain_failure(exc)}")
            break  # one sentence is enough: the other parts usually fail the same way
    return problems


PDF_ENCODING = "windows-1252"  # core fonts in cp1252 carry € and French accents, no TTF needed
_PDF_REPLACEMENTS = {"\u202f": " ", "\u2009": " ", "\u2011": "-", "\u2212": "-"}


def _pdf_safe(text: str) -> str:
    for char, replacement in _PDF_REPLACEMENTS.items():
        text = text.replace(char, replacement)
    return text.encode(PDF_ENCODING, errors="replace").decode(PDF_ENCODING)


def render_pdf(rendered: RenderedReminder, *, title: str) -> bytes:
    """A4 PDF of a rendered letter or formal notice (any channel works): title, then the text."""
    return render_pdfs([(rendered, title)])


def render_pdfs(letters: list[tuple[RenderedReminder, str]]) -> bytes:
    """One A4 PDF of several letters (the day's post), each starting on a new page."""
    pdf = FPDF(format="A4")
    pdf.core_fonts_encoding = PDF_ENCODING
    pdf.set_title(_pdf_safe(letters[0][1] if len(letters) == 1 else "Relance"))
    pdf.set_creator("Relance")
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_margins(left=20, top=20, right=20)
    for rendered, title in letters:
        pdf.add_page()
        pdf.set_font("helvetica", style="B", size=14)
        pdf.multi_cell(0, 8, _pdf_safe(title), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        pdf.set_font("helvetica", size=10.5)
        pdf.multi_cell(0, 5.5, _pdf_safe(rendered.body_text), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
