"""One-to-one texts have a share of the provider limits while they are being sent: broadcasts get the whole
limit otherwise; a reply waits at most for what broadcasts had already reserved (one send per thread), then
replies and broadcasts split the limit, and together they never exceed it."""

import pytest
from django.conf import settings as django_settings

from messaging.broadcasts import ratelimit


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def local_buckets(settings, monkeypatch):
    """The in-process buckets with a clock the test moves."""
    settings.REDIS_URL = ""
    clock = FakeClock()
    monkeypatch.setattr(ratelimit.time, "monotonic", clock)
    monkeypatch.setattr(ratelimit, "_local", ratelimit._LocalBucket())
    return clock


def _reserve(key, *, priority, rate=10.0, share=0.1, window=10.0):
    return ratelimit.reserve_shared(key, rate=rate, n=1, share=share, priority=priority, window=window)


def test_limits_are_the_full_account_and_sender_rates(settings):
    settings.SMS_RATE_LIMITS = {"account": 200, "sender": 50}
    assert dict(ratelimit.sending_limits(provider="telnyx", sender_number="+1312")) == {
        "account:telnyx": 200.0,
        "sender:+1312": 50.0,
    }


def test_broadcasts_alone_get_the_whole_limit(local_buckets):
    waits = [_reserve("account:t1", priority=False) for _ in range(20)]
    # A burst of 10, then 10 per second: the 20th waits one second. (With 10 % kept back it would be
    # (20 - 9) / 9 = 1.22 s.)
    assert waits[:10] == [0.0] * 10
    assert waits[-1] == pytest.approx(1.0)


def test_a_reply_waits_only_for_what_broadcasts_already_reserved_then_they_split(local_buckets):
    for _ in range(20):
        _reserve("account:t2", priority=False)  # broadcasts hold the next second at the full rate
    # The limit's bucket is empty at 1.0 s; the reply takes its next token (0.1 s later).
    first_reply = _reserve("account:t2", priority=True)
    assert first_reply == pytest.approx(1.1)
    # From then on broadcasts draw 9/s and replies 1/s: what broadcasts reserved keeps its time (1.0 s), the
    # next broadcast slot is 1/9 s after it, the next reply a second after the first.
    assert _reserve("account:t2", priority=False) == pytest.approx(1 + 1 / 9)
    assert _reserve("account:t2", priority=True) == pytest.approx(2.1)


def test_a_reply_with_no_broadcast_running_goes_at_once(local_buckets):
    assert _reserve("account:t3", priority=True) == 0.0


def test_replies_and_broadcasts_together_never_exceed_the_limit(local_buckets):
    """Simulate 30 s of a broadcast with 32 threads and a reply every 0.5 s for 8 s: count sends per second."""
    clock = local_buckets
    start = clock.now
    send_times = []
    threads_free_at = [start] * 32
    next_reply = start + 3.0
    while clock.now < start + 30:
        # The earliest event: a broadcast thread asks again, or a reply comes.
        i = min(range(len(threads_free_at)), key=threads_free_at.__getitem__)
        if next_reply <= threads_free_at[i] and next_reply < start + 11:
            clock.now = next_reply
            send_times.append(clock.now + _reserve("account:t4", priority=True, rate=20.0))
            next_reply += 0.5
            continue
        clock.now = threads_free_at[i]
        at = clock.now + _reserve("account:t4", priority=False, rate=20.0)
        send_times.append(at)
        threads_free_at[i] = at + 0.1  # the provider's latency
    # Sliding one-second windows: never more than the rate plus the one-second burst the bucket allows at the
    # very start.
    send_times.sort()
    for j, t in enumerate(send_times):
        if t < start + 1.0:
            continue
        in_window = sum(1 for u in send_times[: j + 1] if u > t - 1.0)
        assert in_window <= 21, (t - start, in_window)
    # And broadcasts got the whole rate back once replies stopped (window 10 s after the last at ~10.5 s).
    late = [t for t in send_times if start + 24 <= t < start + 29]
    assert len(late) >= 5 * 20 - 2


def test_share_zero_puts_everyone_in_one_bucket(settings, local_buckets, monkeypatch):
    settings.SMS_RATE_PRIORITY_SHARE = 0
    settings.SMS_RATE_LIMITS = {"account": 10, "sender": 1000}
    slept = []
    monkeypatch.setattr(ratelimit.time, "sleep", slept.append)
    for _ in range(20):
        ratelimit.wait_for_capacity(provider="p0", sender_number="+1555", segments=1)
    ratelimit.wait_for_capacity(provider="p0", sender_number="+1555", segments=1, priority=True)
    assert slept[-1] == pytest.approx(1.1)  # behind every broadcast reservation, in the same bucket


@pytest.mark.skipif(not django_settings.REDIS_URL, reason="the Redis buckets need Redis")
def test_the_redis_buckets_do_the_same_arithmetic():
    import time
    import uuid

    _reserve(f"account:warm-{uuid.uuid4().hex[:8]}", priority=False)  # connect and load the script first
    key = f"account:redis-{uuid.uuid4().hex[:8]}"
    began = time.monotonic()
    waits = [_reserve(key, priority=False) for _ in range(20)]
    reply = _reserve(key, priority=True)
    bulk = _reserve(key, priority=False)
    second_reply = _reserve(key, priority=True)
    slack = time.monotonic() - began + 0.01  # Redis's clock moves while we ask: refills make waits shorter
    assert waits[:10] == [0.0] * 10
    assert 1.0 - slack <= waits[-1] <= 1.0
    assert 1.1 - slack <= reply <= 1.1
    assert 1 + 1 / 9 - slack <= bulk <= 1 + 1 / 9
    assert 2.1 - slack <= second_reply <= 2.1
    assert _reserve(f"account:redis-{uuid.uuid4().hex[:8]}", priority=True) == 0.0
