"""API key scopes: what a key may touch, on top of what its role allows.

Every API view declares ``required_scopes``, a map like its ``roles`` map::

    required_scopes = {"SAFE": "members:read", "UNSAFE": "members:write"}

Keys are, most specific first: the viewset action (``"export"``, ``"rotate"``), the HTTP method
(``"DELETE"``), then ``"SAFE"`` (GET, HEAD, OPTIONS) / ``"UNSAFE"`` (everything else). A value is one
scope or a tuple of scopes that are all needed. ``@action(required_scopes={...})`` overrides the class map
for that action, as ``roles=`` does. ``ApiKeyScopePermission`` (``koinonia.api.permissions``) enforces it
for API-key requests; staff sessions are not scoped (their role is all that counts).

A key created without scopes has every scope: it can do whatever its role allows, as keys did before
scopes existed. A key with scopes can do only what they name, and its role still applies.
``tests/koinonia/test_api_scopes.py`` walks every ``/api/v1/`` route and fails on one that declares none."""

from dataclasses import dataclass

from rest_framework.permissions import SAFE_METHODS

from koinonia.roles import Role


@dataclass(frozen=True)
class Scope:
    description: str
    # The least key role that can use the scope at all; a key whose role is below it may not be given it
    # (a read-only key with members:write would be refused by its role on every call anyway).
    min_role: str = Role.VIEWER


SCOPES: dict[str, Scope] = {
    "church:read": Scope("The church's name, time zone and quiet hours (GET /church)."),
    "staff:read": Scope("The team: staff names, emails and roles.", Role.VIEWER),
    "members:read": Scope("Members, groups and branches, consent history, imports, the CSV export."),
    "members:write": Scope(
        "Add, edit and delete members, groups and branches; memberships; consent; CSV imports.", Role.STAFF
    ),
    "messages:read": Scope("Broadcasts, their delivery counts and recipients; templates; recurring messages."),
    "messages:send": Scope(
        "Send, schedule, preview, cancel and resend broadcasts; manage templates and recurring messages.", Role.STAFF
    ),
    "messages:approve": Scope("Approve or reject broadcasts held by the church's send-safety setting.", Role.ADMIN),
    "conversations:read": Scope("Conversations (the inbox), their messages, the consent review queue, canned replies."),
    "conversations:write": Scope(
        "Reply, add notes, change status or assignee, decide consent reviews, manage canned replies.", Role.STAFF
    ),
    "numbers:read": Scope("The church's sending numbers, their health and the 10DLC registration status."),
    "webhooks:manage": Scope("Webhook endpoints: add, change, remove, see deliveries.", Role.ADMIN),
    "analytics:read": Scope(
        "Daily figures: sent, delivered, failures by reason, opt-outs, replies, new members, cost."
    ),
    "billing:read": Scope("This period's usage, allowance and projection (GET /usage).", Role.ADMIN),
    "api_keys:manage": Scope(
        "List, create, rotate and revoke API keys (never beyond the calling key's own role and scopes).", Role.ADMIN
    ),
}

ALL_SCOPES: frozenset[str] = frozenset(SCOPES)


def unknown_scopes(scopes) -> list[str]:
    return sorted(set(scopes) - ALL_SCOPES)


def scopes_beyond_role(scopes, role: str) -> list[str]:
    """The scopes of ``scopes`` that a key with ``role`` could never use."""
    return sorted(s for s in set(scopes) & ALL_SCOPES if not Role.at_least(role, SCOPES[s].min_role))


def effective_scopes(granted) -> frozenset[str]:
    """A key's scopes as enforced: none stored means all of them (a full-access key)."""
    return frozenset(granted) if granted else ALL_SCOPES


def parse_scopes(text: str) -> list[str]:
    """``"members:read, messages:send"`` (commas or spaces) → the list, deduplicated, in order."""
    seen: dict[str, None] = {}
    for part in text.replace(",", " ").split():
        seen.setdefault(part.strip(), None)
    return list(seen)


def _as_tuple(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def required_scopes(view, method: str) -> tuple[str, ...] | None:
    """The scopes ``view`` needs for ``method`` (all of them), or None when it declares none."""
    declared = getattr(view, "required_scopes", None)
    if not declared:
        return None
    method = method.upper()
    action = getattr(view, "action", None)
    for key in (action, method, "SAFE" if method in SAFE_METHODS else "UNSAFE"):
        if key and key in declared:
            return _as_tuple(declared[key])
    return None


def missing_scopes(view, method: str, granted) -> list[str] | None:
    """What a key with ``granted`` scopes lacks to call ``view`` with ``method``. None when the view
    declares no scope for it (the permission then refuses scoped keys: undeclared means not allowed)."""
    needed = required_scopes(view, method)
    if needed is None:
        return None
    have = effective_scopes(granted)
    return [scope for scope in needed if scope not in have]
