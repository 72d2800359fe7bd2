"""How the schema would be distributed by Citus (or any sharding by church): the one declaration.

Every table is one of three kinds (docs/scaling.md, "Distribution (Citus-ready)"):

- **distributed** by ``church`` (``DISTRIBUTION_COLUMN``): every table with a ``church`` foreign key that
  is not declared below. All of them are colocated: a church's members, messages, recipients and
  conversations live on the same node, so a page's joins never leave it. Rules: ``church`` is NOT NULL;
  every unique constraint (unique field, ``unique_together``, ``UniqueConstraint``) includes ``church``
  (a shard can only enforce uniqueness it can see); a foreign key points at a reference table or at
  another distributed table, never at a local one.
- **reference** (``REFERENCE_TABLES``): small, rarely written, looked up *without* a church (a sign-in, a
  key's prefix, an invitation link, an inbound text's number, a Stripe customer). Citus copies them to
  every node, so they may keep global unique constraints and anything may point at them; they may point
  only at other reference tables.
- **local** (``LOCAL_TABLES``): platform rows that belong to no church and stay on the coordinator
  (Django's own tables, beat schedules, job bookkeeping, the Stripe webhook inbox). They may point at
  reference tables and at each other; nothing distributed points at them.

Foreign keys between distributed tables are colocated because both rows carry the same church — Citus
wants the key to be ``(church_id, x_id) → (church_id, id)``, which Django cannot declare. Until the
move to Citus (when the composite keys are added in SQL), ``colocation_violations()`` is the check: it
finds, set-based, any child row whose parent belongs to another church (tests/koinonia/test_distribution.py
runs it; ``manage.py check_distribution`` runs it against a live database).

``PARTITIONED_TABLES`` are distributed tables whose keys belong to the partitioning work (issue 13,
"History that stays small"); the same rules apply to them.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db import connections, models

DISTRIBUTION_COLUMN = "church"
CHURCH_MODEL = "churches.Church"

# label -> why it is a reference table (global lookups, small, rarely written).
REFERENCE_TABLES: dict[str, str] = {
    "churches.Church": "the tenant itself: 10,000 rows; the slug is a global lookup; every tenant row points at it",
    "churches.User": "a person may serve several churches; sign-in finds the user by email before any church",
    "churches.ApiKey": (
        "an API call finds its key by prefix before the church is known (the key names the church); "
        "a few keys per church, written on create/rotate and at most once a minute for last_used_at"
    ),
    "churches.Invitation": "an invitation link is found by its token before anyone is signed in",
    "messaging.SenderNumber": (
        "an inbound text or status callback finds its church by the receiving number; a phone number "
        "belongs to one church worldwide, so its uniqueness is global"
    ),
    "billing.Plan": "the price list: a handful of rows every church points at",
    "billing.Subscription": (
        "one per church; Stripe webhooks find it by the Stripe customer id, unique across churches"
    ),
}

# label (or "app_label.*" for a whole third-party app) -> why it stays on the coordinator.
LOCAL_TABLES: dict[str, str] = {
    "admin.*": "Django admin's change log (support staff's actions)",
    "auth.*": "Django's groups and permissions",
    "contenttypes.*": "Django's model registry",
    "sessions.*": "browser sessions (looked up by key, before any church)",
    "django_celery_beat.*": "beat schedules: one platform-wide scheduler",
    "axes.*": "sign-in lockout bookkeeping (by username and IP, before any church)",
    "churches.User_groups": "Django's user ↔ group links",
    "churches.User_user_permissions": "Django's user ↔ permission links",
    "churches.PlatformAuditLog": "audit events outside any church (failed sign-ins)",
    "billing.StripeEvent": (
        "the Stripe webhook inbox: deduplicated by Stripe's global event id before the church is known "
        "(church is filled in when the event is applied, and stays null for platform events)"
    ),
    "koinonia.TaskFailure": "worker failures across churches, for support",
    "koinonia.PeriodicJobRun": "beat job bookkeeping",
    "koinonia.BeatHeartbeat": "the beat lock's heartbeat",
    "analytics.RefreshMark": "how far the analytics refresh has read: one row per source table",
}

# Distributed tables whose fields and constraints the partitioning work owns.
PARTITIONED_TABLES: frozenset[str] = frozenset(
    {"messaging.Recipient", "messaging.ProviderEvent", "conversations.ConversationMessage"}
)

DISTRIBUTED, REFERENCE, LOCAL = "distributed", "reference", "local"


def label(model: type[models.Model]) -> str:
    return f"{model._meta.app_label}.{model._meta.object_name}"


def table_models() -> list[type[models.Model]]:
    """Every model that owns a table: proxies and unmanaged models are views of another table."""
    return [
        model for model in apps.get_models(include_auto_created=True) if not model._meta.proxy and model._meta.managed
    ]


def kind(model: type[models.Model]) -> str | None:
    """The model's declared or implied kind; None when it has no church and is not declared."""
    name = label(model)
    if name in REFERENCE_TABLES:
        return REFERENCE
    if name in LOCAL_TABLES or f"{model._meta.app_label}.*" in LOCAL_TABLES:
        return LOCAL
    if name in PARTITIONED_TABLES or _church_field(model) is not None:
        return DISTRIBUTED
    return None


def _church_field(model: type[models.Model]):
    for field in model._meta.concrete_fields:
        if field.name == DISTRIBUTION_COLUMN and field.is_relation:
            return field
    return None


def _unique_sets(model: type[models.Model]) -> list[tuple[str, set[str]]]:
    """(description, column names it covers) for every unique rule except the primary key."""
    meta = model._meta
    found = [(f"unique field {f.name}", {f.name}) for f in meta.concrete_fields if f.unique and not f.primary_key]
    found += [(f"unique_together {tuple(names)}", set(names)) for names in meta.unique_together]
    for constraint in meta.constraints:
        if isinstance(constraint, models.UniqueConstraint):
            names = set(constraint.fields) | _expression_fields(constraint.expressions)
            found.append((f"constraint {constraint.name}", names))
    return found


def _expression_fields(expressions) -> set[str]:
    names: set[str] = set()
    stack = list(expressions)
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            names.add(node)
        elif isinstance(node, models.F):
            names.add(node.name)
        elif hasattr(node, "get_source_expressions"):
            stack.extend(node.get_source_expressions())
    return names


@dataclass(frozen=True)
class ForeignKey:
    child: type[models.Model]
    field: models.Field
    parent: type[models.Model]


def foreign_keys(model: type[models.Model]) -> list[ForeignKey]:
    return [
        ForeignKey(model, field, field.related_model)
        for field in model._meta.concrete_fields
        if field.is_relation and field.related_model is not None
    ]


def problems(model: type[models.Model]) -> list[str]:
    """What keeps ``model`` from being distributed, referenced or kept local as declared (empty: fine)."""
    model_kind = kind(model)
    if model_kind is None:
        return [f"{label(model)}: no {DISTRIBUTION_COLUMN} and not declared a reference or local table"]
    if model_kind == DISTRIBUTED:
        return _distributed_problems(model)
    allowed = {REFERENCE} if model_kind == REFERENCE else {REFERENCE, LOCAL}
    return [
        f"{label(model)}.{fk.field.name}: a {model_kind} table points at {label(fk.parent)} ({kind(fk.parent)})"
        for fk in foreign_keys(model)
        if kind(fk.parent) not in allowed
    ]


def _distributed_problems(model: type[models.Model]) -> list[str]:
    name = label(model)
    church = _church_field(model)
    if church is None:
        return [f"{name}: a tenant table without {DISTRIBUTION_COLUMN}"]
    found = []
    if church.null or label(church.related_model) != CHURCH_MODEL:
        found.append(f"{name}.{DISTRIBUTION_COLUMN}: must be a NOT NULL foreign key to {CHURCH_MODEL}")
    found += [
        f"{name}: {what} does not include {DISTRIBUTION_COLUMN}"
        for what, names in _unique_sets(model)
        if DISTRIBUTION_COLUMN not in names
    ]
    for fk in foreign_keys(model):
        parent_kind = kind(fk.parent)
        if parent_kind == LOCAL or parent_kind is None:
            found.append(f"{name}.{fk.field.name}: points at {label(fk.parent)}, which is not distributed or reference")
        elif parent_kind == DISTRIBUTED and _church_field(fk.parent) is None:
            found.append(f"{name}.{fk.field.name}: {label(fk.parent)} has no {DISTRIBUTION_COLUMN} to colocate on")
    return found


def colocated_foreign_keys() -> list[ForeignKey]:
    """Foreign keys between distributed tables (both sides carry church): Citus's composite keys."""
    return [
        fk
        for model in table_models()
        if kind(model) == DISTRIBUTED and _church_field(model) is not None
        for fk in foreign_keys(model)
        if fk.field.name != DISTRIBUTION_COLUMN and kind(fk.parent) == DISTRIBUTED and _church_field(fk.parent)
    ]


def colocation_violations(using: str = "default") -> dict[str, int]:
    """Rows whose parent (through a colocated foreign key) belongs to another church, per key; only
    keys with violations are returned. One set-based query per key, on the indexed foreign key."""
    connection = connections[using]
    quote = connection.ops.quote_name
    found: dict[str, int] = {}
    with connection.cursor() as cursor:
        for fk in colocated_foreign_keys():
            child, parent = fk.child._meta, fk.parent._meta
            child_church = quote(_church_field(fk.child).column)
            parent_church = quote(_church_field(fk.parent).column)
            # Only quoted table/column names from the models' own metadata: nothing from outside.
            sql = (
                f"SELECT COUNT(*) FROM {quote(child.db_table)} c JOIN {quote(parent.db_table)} p "  # noqa: S608
                f"ON p.{quote(fk.field.target_field.column)} = c.{quote(fk.field.column)} "
                f"WHERE p.{parent_church} <> c.{child_church}"
            )
            cursor.execute(sql)
            count = cursor.fetchone()[0]
            if count:
                found[f"{label(fk.child)}.{fk.field.name} -> {label(fk.parent)}"] = count
    return found
