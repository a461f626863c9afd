"""Every table of the ledger, in one package: importing `ledger.tables` puts them all on
SQLModel's metadata (migrations, tests, `ledger.db.import_table_modules`), no module walk needed.

- `records`: customers, invoices, payments, disputes, allocations, keys, audit, promises, notes,
  dunning actions, the events outbox
- `workbench`: a dispute's invoices, comments and details; the worklist's invoice indexes
- `dunning`: consolidated reminders, edited scenarios and templates
- `snapshots`: month-end receivables kept for the reports (`ledger.snapshots`)
- `risk`: risk answers computed in bulk and stored (customers', open invoices')
- `operations`: exchange rates, penalty invoices, webhooks, job runs, scores, credit-limit state
"""
from ledger.tables.dunning import (
    Reminder,
    ScenarioRecord,
    TemplateRecord,
)
from ledger.tables.operations import (
    ECB_SOURCE,
    RATE_DIGITS,
    CreditLimitState,
    CustomerScore,
    Delivery,
    ExchangeRate,
    JobRun,
    PenaltyCharge,
    PenaltyInvoice,
    Subscriber,
)
from ledger.tables.records import (
    DATE_BOUNDS,
    DATE_CHECKED,
    MONEY,
    ActionState,
    Allocation,
    AllocationLink,
    ApiKey,
    AuditLog,
    Customer,
    CustomerBase,
    CustomerNote,
    Dispute,
    DisputeBase,
    DunningAction,
    Event,
    Invoice,
    InvoiceBase,
    Payment,
    PaymentBase,
    PolicyEvaluation,
    PolicyModel,
    Promise,
    PromiseInstalment,
    PromiseInvoice,
    date_checks,
    record_event,
    utcnow,
)
from ledger.tables.risk import StoredCustomerRisk, StoredInvoiceRisk, StoredNextAction
from ledger.tables.snapshots import DunningSnapshot, ReceivableSnapshot
from ledger.tables.workbench import (
    OPEN_INDEX,
    WORKLIST_INDEX,
    DisputeComment,
    DisputeDetail,
    DisputeInvoice,
)

__all__ = [
    "ActionState",
    "DunningSnapshot",
    "ReceivableSnapshot",
    "Allocation",
    "AllocationLink",
    "ApiKey",
    "AuditLog",
    "CreditLimitState",
    "Customer",
    "CustomerBase",
    "CustomerNote",
    "CustomerScore",
    "DATE_BOUNDS",
    "DATE_CHECKED",
    "Delivery",
    "Dispute",
    "DisputeBase",
    "DisputeComment",
    "DisputeDetail",
    "DisputeInvoice",
    "DunningAction",
    "ECB_SOURCE",
    "Event",
    "ExchangeRate",
    "Invoice",
    "InvoiceBase",
    "JobRun",
    "MONEY",
    "OPEN_INDEX",
    "Payment",
    "PaymentBase",
    "PolicyEvaluation",
    "PolicyModel",
    "PenaltyCharge",
    "PenaltyInvoice",
    "Promise",
    "PromiseInstalment",
    "PromiseInvoice",
    "RATE_DIGITS",
    "Reminder",
    "ScenarioRecord",
    "StoredCustomerRisk",
    "StoredInvoiceRisk",
    "StoredNextAction",
    "Subscriber",
    "TemplateRecord",
    "WORKLIST_INDEX",
    "date_checks",
    "record_event",
    "utcnow",
]
