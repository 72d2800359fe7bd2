"""Billing's side of the cross-app events (``koinonia/hooks.py``): start the trial on sign-up, meter
segments sent and take back segments that failed before reaching the carrier."""

from billing import services, usage


def start_trial(sender, church, **kwargs) -> None:
    services.subscription_start_trial(church=church)


def record_segments_sent(sender=None, *, church_id, segments, branch_id=None, occurred_at=None, **kwargs) -> None:
    usage.usage_record(church_id=church_id, segments=segments, branch_id=branch_id, occurred_at=occurred_at)


def release_segments_failed(sender=None, *, church_id, segments, branch_id=None, occurred_at=None, **kwargs) -> None:
    usage.usage_release(church_id=church_id, segments=segments, branch_id=branch_id, occurred_at=occurred_at)
