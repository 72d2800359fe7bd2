"""The plan policy: the one interface through which apps ask what a church's plan allows.

``churches``, ``messaging`` and ``conversations`` must not import ``billing``, yet plan limits must be
checked when a member is added or a broadcast is sent, compose pages show usage, and the API's rate
limits depend on the plan. Billing implements :class:`PlanPolicy` (``billing/policy.py``) and registers
it once, in its ``AppConfig.ready()``; everyone else asks ``policy.current()``. Without billing the
:class:`PermissivePolicy` answers: everything allowed, no cap, no usage, no plan.

Resources ``check`` knows: ``members``, ``branches``, ``staff_seats`` (``adding`` = how many more),
``broadcast`` (``adding`` = segments; ``branch_id`` may be given), ``reply`` (conversations; replies and
opt-out confirmations stay allowed when broadcasts are blocked; ``kind`` may say which).

Events (segments sent / failed) are signals in ``koinonia/hooks.py``, not part of the policy.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, runtime_checkable


@runtime_checkable
class PlanPolicy(Protocol):
    def check(self, *, church, resource: str, adding: int = 1, **context) -> None:
        """Raise ``koinonia.exceptions.BusinessRuleError`` to refuse adding ``adding`` of ``resource``."""

    def headroom(self, *, church, branch_id: int | None = None) -> int | None:
        """How many more broadcast segments ``check`` would allow right now (None: nothing caps the
        amount). Lets messaging count a large audience only as far as the answer could change;
        ``check`` stays the one authority."""

    def usage_summary(self, *, church, adding: int = 0, branch_id: int | None = None) -> dict | None:
        """This period's allowance, used, remaining, projected, spend cap and status (and, with
        ``adding`` segments, a ``send`` estimate: cost, whether it's allowed and why not); None when
        nothing is metered."""

    def plan_code(self, *, church) -> str:
        """The code of the church's plan ('trial', 'starter', ...); '' when there are no plans."""


class PermissivePolicy:
    """No billing: everything allowed, no headroom cap, no usage, no plan."""

    def check(self, *, church, resource: str, adding: int = 1, **context) -> None:
        return None

    def headroom(self, *, church, branch_id: int | None = None) -> int | None:
        return None

    def usage_summary(self, *, church, adding: int = 0, branch_id: int | None = None) -> dict | None:
        return None

    def plan_code(self, *, church) -> str:
        return ""


_policy: PlanPolicy = PermissivePolicy()


def register(policy: PlanPolicy) -> PlanPolicy:
    """Make ``policy`` the one in force; returns the one it replaces. One policy at a time: a second
    registration replaces the first rather than stacking (two owners of the plan would be a bug)."""
    global _policy
    if not isinstance(policy, PlanPolicy):
        raise TypeError(f"{policy!r} does not implement PlanPolicy (check, headroom, usage_summary, plan_code).")
    previous, _policy = _policy, policy
    return previous


def current() -> PlanPolicy:
    return _policy


@contextmanager
def registered(policy: PlanPolicy) -> Iterator[PlanPolicy]:
    """``policy`` in force for the block, the previous one restored after (tests, one-off scripts)."""
    previous = register(policy)
    try:
        yield policy
    finally:
        register(previous)
