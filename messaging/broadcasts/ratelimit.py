"""Rate limits that count segments, shared by every worker: a token bucket per sender number and one
per provider account, in Redis (or in-process under the embedded default, which has one worker).

``reserve(n)`` takes n tokens now, going into debt if it must, and returns how long the caller has to
wait before sending; callers sleep that long. Reservation keeps threads in FIFO order and makes the
achieved rate equal the configured one, however many threads ask.
"""

import threading
import time

from django.conf import settings

# KEYS[1] bucket; ARGV: rate (tokens/s), burst, n. Returns the wait in microseconds.
_RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - ts) * rate / 1000000)
tokens = tokens - n
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], 60000 + math.floor(math.max(0, -tokens) * 1000 / rate))
if tokens >= 0 then return 0 end
return math.floor(-tokens * 1000000 / rate)
"""


class _LocalBucket:
    def __init__(self):
        self.lock = threading.Lock()
        self.state: dict[str, tuple[float, float]] = {}

    def reserve(self, key: str, rate: float, burst: float, n: float) -> float:
        with self.lock:
            now = time.monotonic()
            tokens, ts = self.state.get(key, (burst, now))
            tokens = min(burst, tokens + (now - ts) * rate) - n
            self.state[key] = (tokens, now)
            return 0.0 if tokens >= 0 else -tokens / rate


_local = _LocalBucket()
_redis_client = None
_redis_lock = threading.Lock()


def _redis():
    global _redis_client
    if _redis_client is None:
        with _redis_lock:
            if _redis_client is None:
                import redis

                _redis_client = redis.Redis.from_url(
                    settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30
                )
                _redis_client.reserve_script = _redis_client.register_script(_RESERVE_LUA)
    return _redis_client


def reserve(key: str, *, rate: float, n: int, burst: float | None = None) -> float:
    """Seconds to wait before using ``n`` tokens of bucket ``key`` (``rate`` per second)."""
    if rate <= 0:
        return 0.0
    burst = burst if burst is not None else max(1.0, rate)  # about one second's worth
    if not settings.REDIS_URL:
        return _local.reserve(key, rate, burst, n)
    client = _redis()
    micros = client.reserve_script(keys=[f"koinonia:rl:{key}"], args=[rate, burst, n])
    return int(micros) / 1_000_000


# Carriers filter unregistered 10DLC traffic on these; the console provider texts no one.
UNREGISTERED_LIMITED_PROVIDERS = frozenset({"telnyx", "twilio"})


def priority_share() -> float:
    """The part of every account and sender rate kept for one-to-one texts (replies, opt-out and HELP
    confirmations), between 0 and 0.9."""
    return min(0.9, max(0.0, float(getattr(settings, "SMS_RATE_PRIORITY_SHARE", 0.1) or 0)))


def sending_limits(
    *, provider: str, sender_number: str, registered: bool = True, priority: bool = False
) -> list[tuple[str, float]]:
    """The buckets one send draws from, with their rates (segments per second). A sender not on a
    live 10DLC campaign is held to ``SMS_RATE_UNREGISTERED_SENDER`` (its own bucket, so the debt run
    up while throttled does not follow the number once it is registered).

    Each limit is split in two buckets: broadcasts draw from one at ``1 - SMS_RATE_PRIORITY_SHARE`` of
    the rate, one-to-one texts (``priority``) from another at the share. Reservation is FIFO with debt,
    so with one shared bucket a reply would queue behind every broadcast thread's reservation (seconds
    at peak); with its own it waits only for other replies, and the two together never exceed the
    provider's limit. A share of 0 puts everyone back in the same buckets."""
    limits = getattr(settings, "SMS_RATE_LIMITS", {})
    account = (f"account:{provider}", float(limits.get("account", 50)))
    sender = (f"sender:{sender_number}", float(limits.get("sender", 50)))
    unregistered_rate = float(getattr(settings, "SMS_RATE_UNREGISTERED_SENDER", 0) or 0)
    if not registered and unregistered_rate > 0 and provider in UNREGISTERED_LIMITED_PROVIDERS:
        sender = (f"sender-unregistered:{sender_number}", min(sender[1], unregistered_rate))
    share = priority_share()
    if share <= 0:
        return [account, sender]
    if priority:
        return [(f"priority-{key}", rate * share) for key, rate in (account, sender)]
    return [(key, rate * (1 - share)) for key, rate in (account, sender)]


def wait_for_capacity(
    *, provider: str, sender_number: str, segments: int, registered: bool = True, priority: bool = False
) -> None:
    """Block until this send fits every bucket it draws from (raises on Redis errors: the caller
    treats that as a transient failure and puts the recipient back). ``registered``: the sender is
    on a live 10DLC campaign (the pipeline passes ``bool(sender.campaign_id)``, already loaded).
    ``priority``: a one-to-one text, drawing from the reserved share (see ``sending_limits``)."""
    wait = max(
        reserve(key, rate=rate, n=segments)
        for key, rate in sending_limits(
            provider=provider, sender_number=sender_number, registered=registered, priority=priority
        )
    )
    if wait > 0:
        time.sleep(wait)
