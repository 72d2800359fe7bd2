"""Every query of a church-owned table names its church: an AST check over all five apps.

Run it with ``python -m koinonia.lint.tenancy_check`` (``tests/koinonia/test_tenancy.py`` runs it in
``make check``). Church-owned models are found by introspection — every installed model with a
``church`` field — so a new model is covered the day it is added.

A chain ``<ChurchOwnedModel>.objects.<method>(...)`` using one of ``QUERY_METHODS`` is *scoped* when
one of these holds (checked in this order; the first that holds wins):

1. **for_church** — the chain calls ``.for_church(...)`` (``Model.objects.for_church(church)``), the
   one way to scope a queryset.
2. **church keyword** — a ``filter`` / ``get`` / ``get_or_create`` / ``update_or_create`` call has a
   keyword whose lookup path ends at the church: ``church=``, ``church_id=``, ``church__in=``,
   ``member__church=`` ... (``church__name=`` matches another church's rows by name: not a scope).
3. **a scoped parent in hand** — a keyword filters by a foreign key to another church-owned model
   and its value is an object the code already holds: ``message=message`` (a bare name that is not
   an id) or ``message_id=message.pk`` / ``conversation_id=thread.id`` / ``member_id=row.member_id``
   (an attribute of an object). A bare id from outside (``message_id=message_id``) does not count:
   it may be another church's.
4. **re-reading a row in hand** — ``pk=`` / ``id=`` an attribute of an object already fetched
   (``select_for_update().get(pk=job.pk)`` to lock it): the object was scoped when it was fetched.
5. **church passed in** — the enclosing function has a ``church`` / ``church_id`` parameter and a
   narrowing call of the chain uses it (``.filter(Q(church=church) | ...)``).
6. **handed to an access function** — the chain is the ``queryset`` (keyword, or a positional argument)
   of a call that also passes ``church=``: ``member_get(church=church, id=pk, queryset=Member.objects
   .select_for_update())`` / ``church_object_get(Message.objects..., church=church, id=pk)``.
7. **church_queryset** — the chain is inside a ``church_queryset()`` method: the scoped base classes
   (``koinonia.tenancy.ChurchPageMixin``, ``koinonia.api.base``) apply the church to its result in a
   ``get_queryset`` that subclasses cannot override.

The check follows expressions, not variables: ``rows = Member.objects`` then ``rows.get(pk=pk)`` is not
seen (write the chain in one expression, or use the access function).

Anything else must be in ``ALLOW`` with a reason: webhook ingest (the church comes from the receiving
number or the provider's id), beat/sweeper tasks working across churches, support admin, management
commands, data repair. Offenders are reported as ``path:line: Model.objects.method — reason``.
"""

from __future__ import annotations

import ast
import pathlib
import sys
from dataclasses import dataclass, field

ROOT = pathlib.Path(__file__).resolve().parents[2]
APPS = ("koinonia", "churches", "messaging", "conversations", "billing", "integrations", "analytics")

_QUERY_METHODS = """get filter exclude all first last count exists values values_list update delete iterator
aggregate annotate order_by select_related prefetch_related only defer in_bulk get_or_create update_or_create
select_for_update"""
QUERY_METHODS = frozenset(_QUERY_METHODS.split())
# Calls whose keywords narrow the rows (rule 2-4); ``exclude(church=...)`` widens, so it never scopes.
NARROWING = frozenset({"filter", "get", "get_or_create", "update_or_create"})
CHURCH_NAMES = frozenset({"church", "church_id"})
CHURCH_LOOKUPS = frozenset({"in", "exact", "pk", "id"})  # church=, church__in=, church__pk=; not church__name=

# Whole modules that work above or across tenants. (path, "*", "*") -> reason.
# Functions: (path, qualified function name, model name) -> reason.
ALLOW: dict[tuple[str, str, str], str] = {
    # --- support admin: platform staff see every church --------------------------------------------
    ("messaging/admin.py", "*", "*"): "support admin works across churches",
    ("billing/admin.py", "*", "*"): "support admin works across churches",
    # --- before there is a church: sign-in, API keys, invitations, the user's own memberships --------
    ("churches/authentication.py", "ApiKeyAuthentication.authenticate", "ApiKey"): (
        "the key's prefix finds the key, and the key names the church"
    ),
    ("churches/middleware.py", "resolve_session_church", "StaffMembership"): (
        "the signed-in user's own memberships decide the current church"
    ),
    ("churches/receivers.py", "record_sign_in", "StaffMembership"): "the signed-in user's own memberships",
    ("churches/selectors.py", "membership_list_for_user", "StaffMembership"): (
        "the church switcher lists the user's own memberships"
    ),
    ("churches/services/accounts.py", "invitation_find", "Invitation"): (
        "an invitation link is found by its secret token before anyone is signed in"
    ),
    # --- workers: ids come from our own queue / outbox rows, never from a request ---------------------
    ("churches/imports/run.py", "member_import_run", "ImportJob"): "worker: job id enqueued by the church's import",
    ("churches/imports/run.py", "_claim", "ImportJob"): "worker: job id enqueued by the church's import",
    ("churches/tasks.py", "member_import_run_task", "ImportJob"): "worker: job id enqueued by the church's import",
    ("messaging/broadcasts/pipeline.py", "claim_batch", "*"): (
        "worker: rows of the message being sent (ids it just leased)"
    ),
    ("messaging/broadcasts/pipeline.py", "record_outcomes", "Recipient"): "worker: rows under this worker's lease",
    ("messaging/broadcasts/pipeline.py", "recount_message", "*"): "worker: message id from our own queue",
    ("messaging/broadcasts/pipeline.py", "_sending_message", "Message"): "worker: message id from our own queue",
    ("messaging/broadcasts/pipeline.py", "halt_message", "*"): "worker: message id from our own queue",
    ("messaging/broadcasts/pipeline.py", "finish_if_done", "*"): "worker: message id from our own queue",
    ("messaging/broadcasts/services.py", "message_count_audience", "Message"): "worker: message id from our own queue",
    ("messaging/broadcasts/services.py", "message_prepare", "Message"): "worker: message id from our own queue",
    ("messaging/broadcasts/tasks.py", "_dispatch", "Message"): "worker: message id from our own queue",
    ("messaging/broadcasts/tasks.py", "send_message", "Message"): "worker: message id from our own queue",
    ("messaging/broadcasts/fair.py", "_ready_messages", "*"): (
        "send scheduler: picks the next turn among every church's sending broadcasts"
    ),
    ("messaging/broadcasts/fair.py", "next_turn", "Message"): "send scheduler: message id it just picked",
    ("messaging/broadcasts/fair.py", "_has_queued", "Recipient"): "send scheduler: message id it is serving",
    ("messaging/broadcasts/monitoring.py", "oldest_queued_recipient_age", "*"): "metrics: one age across all churches",
    ("messaging/numbers/linking.py", "sender_number_check", "SenderNumber"): (
        "worker/beat: number id from the hourly sweep or a scoped page's own number"
    ),
    ("messaging/numbers/linking.py", "_email_owners", "SenderNumber"): "worker: number id from the check that just ran",
    ("messaging/numbers/tendlc/status.py", "campaign_assign_numbers", "TenDlcCampaign"): (
        "worker: campaign id enqueued when the registrar provisioned it"
    ),
    ("conversations/services/handoff.py", "_claim", "ConversationMessage"): "worker: reply id from our own queue",
    ("conversations/services/media.py", "inbound_media_fetch", "ConversationMessage"): (
        "worker: message id enqueued by inbound handling"
    ),
    ("conversations/services/notifications.py", "inbound_notify", "ConversationMessage"): (
        "worker: message id enqueued by inbound handling"
    ),
    ("billing/usage.py", "_apply", "UsagePeriod"): "lookup dict carries church_id (metering by church id)",
    ("billing/usage.py", "overage_report", "UsagePeriod"): "worker: usage period id from our own outbox",
    ("billing/usage.py", "meter_report_send", "MeterReport"): "worker: report id from our own outbox",
    ("billing/webhooks.py", "_claim", "StripeEvent"): "worker: stored Stripe event id",
    # --- sweepers and beat tasks: deliberately across churches ---------------------------------------
    ("churches/imports/retention.py", "member_import_purge_expired", "*"): "beat: purges every church's expired files",
    ("churches/idempotency.py", "purge_expired", "IdempotencyRecord"): (
        "beat: deletes every church's Idempotency-Key answers past their 24 hours"
    ),
    ("messaging/broadcasts/tasks.py", "sweep", "*"): "beat sweeper: leases and due messages of every church",
    ("analytics/services.py", "daily_stats_refresh_recent", "Message"): (
        "beat: which churches have broadcasts still moving (church ids only; each church then refreshed scoped)"
    ),
    ("messaging/recurring/services.py", "recurring_fire_due", "RecurringMessage"): "beat: every church's due schedules",
    ("messaging/recurring/services.py", "recurring_fire", "RecurringMessage"): "beat: one due schedule by id",
    ("messaging/recurring/services.py", "scheduled_messages_release", "Message"): "beat: due scheduled messages",
    ("messaging/numbers/linking.py", "number_checks_prune", "NumberCheck"): "beat: prunes every church's old checks",
    ("messaging/numbers/linking.py", "sender_numbers_due", "SenderNumber"): "beat: numbers of every church due a check",
    ("messaging/numbers/tendlc/status.py", "pending_church_ids", "*"): (
        "beat: which churches have registrations to poll"
    ),
    ("billing/usage.py", "meter_reports_retry", "MeterReport"): "beat: unsent outbox rows of every church",
    ("billing/webhooks.py", "stripe_events_retry", "StripeEvent"): "beat: unprocessed Stripe events",
    # --- webhook ingest: the church is found from the provider's identifiers -------------------------
    ("messaging/broadcasts/delivery.py", "apply_status_batch", "Recipient"): (
        "delivery callbacks: rows by provider message id"
    ),
    ("messaging/broadcasts/delivery.py", "_locked_recipient", "Recipient"): (
        "delivery callbacks: row by provider message id"
    ),
    ("messaging/broadcasts/delivery.py", "_move_counters", "Message"): (
        "delivery callbacks: the recipient row's own message"
    ),
    ("messaging/numbers/tendlc/status.py", "_locked_assignment", "TenDlcNumberAssignment"): (
        "10DLC webhook: assignment by phone number and provider campaign id"
    ),
    ("conversations/services/handoff.py", "on_delivery_status", "ConversationMessage"): (
        "delivery callbacks: reply by provider message id"
    ),
    ("conversations/services/inbound.py", "inbound_receive", "SenderNumber"): (
        "inbound webhook: the receiving number names the church"
    ),
    ("billing/webhooks.py", "stripe_event_receive", "StripeEvent"): "Stripe webhook: event stored by Stripe's id",
    ("billing/webhooks.py", "_subscription_for_customer", "Subscription"): (
        "Stripe webhook: the Stripe customer id names the church"
    ),
    # --- a phone number is unique across churches: ownership is decided after the lookup -------------
    ("messaging/numbers/ordering.py", "number_search", "SenderNumber"): (
        "numbers any church here already has are not for sale"
    ),
    ("messaging/numbers/ordering.py", "_existing", "SenderNumber"): (
        "another church's row for the number is a 409 conflict"
    ),
    ("messaging/numbers/ordering.py", "number_order", "SenderNumber"): "phone number is unique across churches",
    ("messaging/numbers/services.py", "sender_number_add", "SenderNumber"): (
        "phone number is unique across churches: another church's is a 409 conflict"
    ),
    ("messaging/numbers/ordering.py", "number_order_apply", "SenderNumber"): (
        "provider order completion: numbers by e164"
    ),
    # --- outgoing webhooks: workers handed delivery ids by our own outbox, and the beat sweeper ---------
    ("integrations/delivery.py", "_claim", "WebhookDelivery"): "worker: delivery id from our own outbox",
    ("integrations/delivery.py", "deliver", "WebhookDelivery"): "worker: delivery id from our own outbox",
    ("integrations/delivery.py", "email_owners_endpoint_disabled", "WebhookEndpoint"): (
        "after commit: the endpoint id the delivery worker just disabled"
    ),
    ("integrations/delivery.py", "due_delivery_ids", "WebhookDelivery"): "beat sweeper: due attempts of every church",
    ("integrations/tasks.py", "sweep_webhook_deliveries", "WebhookEvent"): (
        "beat sweeper: events of every church past the retention period"
    ),
}


@dataclass
class Offender:
    path: str
    line: int
    model: str
    method: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.model}.objects.{self.method} — {self.reason}"


@dataclass
class Report:
    offenders: list[Offender] = field(default_factory=list)
    allowed: list[tuple[str, int, str, str, str]] = field(default_factory=list)  # path, line, model, method, why
    unused_allow: list[tuple[str, str, str]] = field(default_factory=list)


def church_owned_models() -> dict[str, dict]:
    """Model class name -> {"fks": {field name: True}} for every installed model with a ``church``
    field. ``fks`` are its foreign keys to other church-owned models (rule 3)."""
    from django.apps import apps

    owned = {}
    for model in apps.get_models():
        try:
            model._meta.get_field("church")
        except Exception:  # noqa: S112 - FieldDoesNotExist: not church-owned
            continue
        owned[model] = model
    result = {}
    for model in owned:
        fks = set()
        for f in model._meta.get_fields():
            relation = getattr(f, "many_to_one", False) or getattr(f, "one_to_one", False)
            if relation and f.concrete and f.name != "church" and f.related_model in owned:
                fks.add(f.name)
        result[model.__name__] = {"fks": fks}
    return result


def _chain(node: ast.Attribute, parents: dict) -> list[tuple[str, ast.Call | None]]:
    """From ``X.objects`` upwards: [(method, call), ...] while the expression keeps chaining."""
    out = []
    cur = node
    while True:
        parent = parents.get(cur)
        if isinstance(parent, ast.Attribute) and parent.value is cur:
            call = parents.get(parent)
            if isinstance(call, ast.Call) and call.func is parent:
                out.append((parent.attr, call))
                cur = call
                continue
            out.append((parent.attr, None))
        return out


def _names(call: ast.Call) -> set[str]:
    """Names the call's row-narrowing arguments use (``defaults=`` only says what to write)."""
    parts = [*call.args, *(kw.value for kw in call.keywords if kw.arg not in ("defaults", "create_defaults"))]
    return {n.id for part in parts for n in ast.walk(part) if isinstance(n, ast.Name)}


def _is_object_attribute(value: ast.AST) -> bool:
    """``x.pk``, ``x.id``, ``x.member_id``, ``self.message.pk`` — an attribute of an object in hand."""
    return isinstance(value, ast.Attribute) and (value.attr in ("pk", "id") or value.attr.endswith("_id"))


def _is_object_name(value: ast.AST) -> bool:
    if isinstance(value, ast.Attribute):  # self.conversation, job.message
        return value.attr not in ("pk", "id") and not value.attr.endswith("_id")
    return isinstance(value, ast.Name) and not (value.id in ("pk", "id") or value.id.endswith(("_id", "_pk")))


def _scoped(chain, fks: set[str], function: ast.AST | None) -> bool:
    if any(method == "for_church" for method, _call in chain):  # rule 1
        return True
    for method, call in chain:
        if call is None or method not in NARROWING:
            continue
        for kw in call.keywords:
            if kw.arg is None:
                continue
            parts = kw.arg.split("__")
            at = next((i for i, part in enumerate(parts) if part in CHURCH_NAMES), None)
            if at is not None and set(parts[at + 1 :]) <= CHURCH_LOOKUPS:  # rule 2 (not church__name=)
                return True
            head = parts[0]
            if len(parts) == 1 and head in fks and _is_object_name(kw.value):  # rule 3
                return True
            if len(parts) == 1 and head.endswith("_id") and head[:-3] in fks and _is_object_attribute(kw.value):
                return True
            if len(parts) == 1 and head in ("pk", "id") and _is_object_attribute(kw.value):  # rule 4
                return True
    if function is not None:  # rule 5
        params = {a.arg for a in (*function.args.args, *function.args.kwonlyargs, *function.args.posonlyargs)}
        if params & CHURCH_NAMES:
            for method, call in chain:
                if call is not None and method in NARROWING and _names(call) & params & CHURCH_NAMES:
                    return True
    return False


def _handed_to_access_function(node: ast.AST, chain, parents: dict) -> bool:
    """``member_get(church=church, id=pk, queryset=Member.objects.select_related(...))`` or
    ``church_object_get(Message.objects.select_for_update(), church=church, id=pk)``: the callee scopes."""
    outer = next((call for _method, call in reversed(chain) if call is not None), node)
    parent = parents.get(outer)
    if isinstance(parent, ast.keyword) and parent.arg == "queryset":
        parent = parents.get(parent)
    elif not (isinstance(parent, ast.Call) and outer in parent.args):
        return False
    return isinstance(parent, ast.Call) and any(kw.arg == "church" for kw in parent.keywords)


def check_source(source: str, path: str, owned: dict[str, dict] | None = None, allow=None) -> Report:
    """Check one module's source. ``path`` is relative to the repository root (for the allow-list)."""
    owned = church_owned_models() if owned is None else owned
    allow = ALLOW if allow is None else allow
    tree = ast.parse(source, filename=path)
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node

    # Which local names are church-owned model classes: imported (with aliases) or defined here.
    local: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name in owned:
                    local[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ClassDef) and node.name in owned and isinstance(parents.get(node), ast.Module):
            local[node.name] = node.name

    report = Report()
    used_allow = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr == "objects"):
            continue
        base = node.value
        if isinstance(base, ast.Name) and base.id in local:
            model = local[base.id]
        elif isinstance(base, ast.Attribute) and base.attr in owned:  # models.Member.objects
            model = base.attr
        else:
            continue
        chain = _chain(node, parents)
        if not chain or not any(method in QUERY_METHODS for method, _ in chain):
            continue
        # Enclosing functions, innermost first.
        functions, scopes, cur = [], [], parents.get(node)
        while cur is not None:
            if isinstance(cur, ast.FunctionDef | ast.AsyncFunctionDef):
                functions.append(cur)
            if isinstance(cur, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                scopes.append(cur.name)
            cur = parents.get(cur)
        qualname = ".".join(reversed(scopes))
        if functions and functions[0].name == "church_queryset":  # rule 7
            continue
        if any(_scoped(chain, owned[model]["fks"], f) for f in functions or [None]):
            continue
        if _handed_to_access_function(node, chain, parents):  # rule 6
            continue
        method = chain[0][0]
        for key in ((path, "*", "*"), (path, qualname, "*"), (path, qualname, model)):
            if key in allow:
                used_allow.add(key)
                report.allowed.append((path, node.lineno, model, method, allow[key]))
                break
        else:
            report.offenders.append(
                Offender(path, node.lineno, model, method, "no church scope (use Model.objects.for_church(church))")
            )
    report.offenders.sort(key=lambda o: o.line)
    report.unused_allow = [key for key in allow if key[0] == path and key not in used_allow]
    return report


def app_modules(root: pathlib.Path = ROOT) -> list[pathlib.Path]:
    found = []
    for app in APPS:
        for path in sorted((root / app).rglob("*.py")):
            if "migrations" in path.parts or "tests" in path.parts or path.name.startswith("test_"):
                continue
            found.append(path)
    return found


def check_project(root: pathlib.Path = ROOT) -> Report:
    owned = church_owned_models()
    total = Report()
    seen_paths = set()
    for path in app_modules(root):
        rel = str(path.relative_to(root))
        seen_paths.add(rel)
        one = check_source(path.read_text(), rel, owned)
        total.offenders += one.offenders
        total.allowed += one.allowed
        total.unused_allow += one.unused_allow
    # An entry for a module that no longer exists is stale too.
    total.unused_allow += [key for key in ALLOW if key[0] not in seen_paths]
    return total


def main() -> int:
    import os

    import django

    from koinonia.celery import SETTINGS_MODULE_DEFAULTED

    # The check reads only the model registry: nobody chose settings, so the test settings (no secrets
    # needed) rather than the production default koinonia.celery set on import.
    if SETTINGS_MODULE_DEFAULTED:
        os.environ["DJANGO_SETTINGS_MODULE"] = "koinonia.settings.test"
    django.setup()
    report = check_project()
    for offender in report.offenders:
        print(offender)
    for key in report.unused_allow:
        print(f"stale allow-list entry (nothing matches it any more): {key}")
    print(
        f"tenancy check: {len(report.offenders)} offender(s); allow-list has {len(ALLOW)} entries "
        f"covering {len(report.allowed)} quer{'y' if len(report.allowed) == 1 else 'ies'}"
    )
    return 1 if report.offenders or report.unused_allow else 0


if __name__ == "__main__":
    sys.exit(main())
