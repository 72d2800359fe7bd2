"""One-to-one texts have their own share of the provider limits: a broadcast's reservations (FIFO, with
debt) never make a reply wait, and the two shares together stay within the account's limit."""

from messaging.broadcasts import ratelimit


def test_replies_and_broadcasts_draw_from_separate_buckets_that_sum_to_the_limit(settings):
    settings.SMS_RATE_LIMITS = {"account": 200, "sender": 50}
    settings.SMS_RATE_PRIORITY_SHARE = 0.1
    bulk = dict(ratelimit.sending_limits(provider="telnyx", sender_number="+1312"))
    priority = dict(ratelimit.sending_limits(provider="telnyx", sender_number="+1312", priority=True))
    assert bulk == {"account:telnyx": 180.0, "sender:+1312": 45.0}
    assert priority == {"priority-account:telnyx": 20.0, "priority-sender:+1312": 5.0}
    settings.SMS_RATE_PRIORITY_SHARE = 0
    assert dict(ratelimit.sending_limits(provider="telnyx", sender_number="+1312", priority=True)) == {
        "account:telnyx": 200.0,
        "sender:+1312": 50.0,
    }


def test_a_reply_does_not_wait_behind_a_broadcasts_debt(settings):
    settings.REDIS_URL = ""  # the in-process buckets
    settings.SMS_RATE_LIMITS = {"account": 10, "sender": 10}
    settings.SMS_RATE_PRIORITY_SHARE = 0.2
    # A broadcast's threads have reserved far ahead: the bulk bucket is seconds in debt.
    for _ in range(40):
        ratelimit.reserve("account:p-test", rate=8, n=1)
    assert ratelimit.reserve("account:p-test", rate=8, n=1) > 3
    waits = [
        ratelimit.reserve(key, rate=rate, n=1)
        for key, rate in ratelimit.sending_limits(provider="p-test", sender_number="+1999", priority=True)
    ]
    assert max(waits) == 0
