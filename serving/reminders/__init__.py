"""Reminders: Jinja2 templates per (channel, tone, language), rendered to text, HTML and PDF."""
from serving.reminders.render import (
    CHANNELS,
    LANGUAGES,
    TONES,
    Company,
    Contact,
    Customer,
    InvoiceLine,
    PenaltyClaim,
    ReminderContext,
    ReminderError,
    RenderedReminder,
    TemplateInfo,
    available_templates,
    render_pdf,
    render_reminder,
    resolve_template,
    sample_context,
    validate_template,
)

__all__ = [
    "CHANNELS", "LANGUAGES", "TONES", "Company", "Contact", "Customer", "InvoiceLine", "PenaltyClaim",
    "ReminderContext", "ReminderError", "RenderedReminder", "TemplateInfo", "available_templates",
    "render_pdf", "render_reminder", "resolve_template", "sample_context", "validate_template",
]
