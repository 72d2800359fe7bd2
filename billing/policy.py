"""Billing's plan policy (``koinonia.policy.PlanPolicy``), registered in ``BillingConfig.ready()``: the
plan, subscription state, spend cap and branch budgets decide what a church may add or send."""

from billing import limits, selectors
from churches.models import Church


class BillingPlanPolicy:
    def check(self, *, church: Church, resource: str, adding: int = 1, **context) -> None:
        limits.check(church=church, resource=resource, adding=adding, **context)

    def headroom(self, *, church: Church, branch_id: int | None = None) -> int | None:
        return limits.broadcast_headroom(church=church, branch_id=branch_id)

    def usage_summary(self, *, church: Church, adding: int = 0, branch_id: int | None = None) -> dict:
        sub = selectors.subscription_get(church=church)
        return selectors.usage_summary(church=church, sub=sub, adding=adding, branch_id=branch_id)

    def plan_code(self, *, church: Church) -> str:
        return selectors.plan_code(church=church)
