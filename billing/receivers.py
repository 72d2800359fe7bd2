"""Billing's side of the cross-app hooks: start the trial on sign-up, meter segments, report usage."""

from billing import selectors, services, usage


def start_trial(sender, church, **kwargs) -> None:
    services.subscription_start_trial(church=church)


def record_segments_sent(sender=None, *, church_id, segments, branch_id=None, occurred_at=None, **kwargs) -> None:
    if segments < 0:  # a correction: segments counted earlier failed before reaching the carrier
        usage.usage_release(church_id=church_id, segments=-segments, branch_id=branch_id, occurred_at=occurred_at)
        return
    usage.usage_record(church_id=church_id, segments=segments, branch_id=branch_id, occurred_at=occurred_at)


def release_segments_failed(sender=None, *, church_id, segments, branch_id=None, occurred_at=None, **kwargs) -> None:
    usage.usage_release(church_id=church_id, segments=segments, branch_id=branch_id, occurred_at=occurred_at)


def report_usage(*, church, adding: int = 0, branch_id: int | None = None) -> dict:
    sub = selectors.subscription_get(church=church)
    return selectors.usage_summary(church=church, sub=sub, adding=adding, branch_id=branch_id)
