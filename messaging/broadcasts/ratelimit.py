"""Rate limits that count segments, shared by every worker: a token bucket per sender number and one
per provider account, in Redis (or in-process under the embedded default, which has one worker).

``reserve(n)`` takes n tokens now, going into debt if it must, and returns how long the caller has to
wait before sending; callers sleep that long. Reservation keeps threads in FIFO order and makes the
achieved rate equal the configured one, however many threads ask.

One-to-one texts (replies, opt-out and HELP confirmations) must not queue behind a broadcast's
reservations, so each limit can keep a share for them (``SMS_RATE_PRIORITY_SHARE``) — but only while
they are using it: ``reserve_shared`` lends the whole rate to broadcasts until a one-to-one text comes,
then splits it for ``SMS_RATE_PRIORITY_WINDOW`` seconds after the last one. The two never overlap
beyond the limit: the first one-to-one text of a window starts after what broadcasts had already
reserved at the full rate (a fraction of a second: debt is one send per thread).
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


# The lending pair of one limit. KEYS[1] the bucket drawn from, KEYS[2] the broadcast bucket of the same
# limit, KEYS[3] the "one-to-one texts active until" mark. ARGV: full rate, share, full burst, n,
# priority (1/0), window (µs). Returns the wait in microseconds. Same arithmetic as _LocalBucket.reserve_shared.
_RESERVE_SHARED_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local full = tonumber(ARGV[1])
local share = tonumber(ARGV[2])
local full_burst = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local priority = ARGV[5] == '1'
local window = tonumber(ARGV[6])
local active_until = tonumber(redis.call('GET', KEYS[3]) or '0')
local active = active_until > now
local part = 1
if priority then part = share elseif active then part = 1 - share end
local rate = full * part
local burst = math.max(1, full_burst * part)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'rate')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
local was = tonumber(state[3]) or rate
-- Refill at the rate that was in force; a changed rate rescales the tokens so that what was already
-- reserved keeps its time (debt converts to the same horizon, not to earlier slots).
tokens = (tokens + (now - ts) * was / 1000000) * rate / was
tokens = math.min(burst, tokens) - n
local wait = 0
if tokens < 0 then wait = -tokens * 1000000 / rate end
if priority and not active then
  -- Broadcasts have reserved the full rate up to their horizon: the first one-to-one text goes after it.
  local b = redis.call('HMGET', KEYS[2], 'tokens', 'ts', 'rate')
  local bt = tonumber(b[1])
  if bt then
    local brate = tonumber(b[3]) or full
    bt = bt + (now - tonumber(b[2])) * brate / 1000000
    if bt < 0 then
      -- Their horizon ends with the limit's bucket empty: the next token there is this text's, and the
      -- one-to-one bucket starts from empty too (its burst would overshoot the limit).
      local start = (-bt / brate + n / full) * 1000000
      if start > wait then
        tokens = -start * rate / 1000000
        wait = start
      end
    end
  end
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now, 'rate', rate)
redis.call('PEXPIRE', KEYS[1], 60000 + math.floor(math.max(0, -tokens) * 1000 / rate))
wait = math.floor(wait)
if priority then
  local until_ = now + wait + window
  if until_ > active_until then
    redis.call('SET', KEYS[3], until_, 'PX', math.floor((until_ - now) / 1000) + 1000)
  end
end
return wait
"""


class _LocalBucket:
    def __init__(self):
        self.lock = threading.Lock()
        self.state: dict[str, tuple[float, float]] = {}
        self.marks: dict[str, float] = {}  # "one-to-one texts active until" per limit
        self.rates: dict[str, float] = {}  # the rate a lending bucket's tokens were counted at

    def reserve(self, key: str, rate: float, burst: float, n: float) -> float:
        with self.lock:
            now = time.monotonic()
            tokens, ts = self.state.get(key, (burst, now))
            tokens = min(burst, tokens + (now - ts) * rate) - n
            self.state[key] = (tokens, now)
            return 0.0 if tokens >= 0 else -tokens / rate

    def reserve_shared(
        self, key: str, *, full_rate: float, share: float, full_burst: float, n: float, priority: bool, window: float
    ) -> float:
        """``_RESERVE_SHARED_LUA`` in process (seconds instead of microseconds)."""
        bulk_key, priority_key, mark_key = _shared_keys(key)
        with self.lock:
            now = time.monotonic()
            active_until = self.marks.get(mark_key, 0.0)
            active = active_until > now
            part = share if priority else (1 - share if active else 1.0)
            rate, burst = full_rate * part, max(1.0, full_burst * part)
            own = priority_key if priority else bulk_key
            tokens, ts = self.state.get(own, (burst, now))
            was = self.rates.get(own, rate)
            # Refill at the rate that was in force; a changed rate rescales the tokens so that what was
            # already reserved keeps its time (debt converts to the same horizon, not to earlier slots).
            tokens = min(burst, (tokens + (now - ts) * was) * rate / was) - n
            wait = 0.0 if tokens >= 0 else -tokens / rate
            if priority and not active and bulk_key in self.state:
                # Broadcasts have reserved the full rate up to their horizon: the first one-to-one text
                # of a window goes after it (a fraction of a second: one send per broadcast thread).
                # Their horizon ends with the limit's bucket empty: the next token there is this text's, and
                # the one-to-one bucket starts from empty too (its burst would overshoot the limit).
                bulk_tokens, bulk_ts = self.state[bulk_key]
                bulk_rate = self.rates.get(bulk_key, full_rate)
                bulk_tokens += (now - bulk_ts) * bulk_rate
                start = -bulk_tokens / bulk_rate + n / full_rate
                if bulk_tokens < 0 and start > wait:
                    tokens, wait = -start * rate, start
            self.state[own] = (tokens, now)
            self.rates[own] = rate
            if priority:
                self.marks[mark_key] = max(active_until, now + wait + window)
            return wait


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
                _redis_client.reserve_shared_script = _redis_client.register_script(_RESERVE_SHARED_LUA)
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


def _shared_keys(key: str) -> tuple[str, str, str]:
    """The broadcast bucket, the one-to-one bucket and the "one-to-one active" mark of one limit."""
    return key, f"priority-{key}", f"priority-active:{key}"


def reserve_shared(key: str, *, rate: float, n: int, share: float, priority: bool, window: float) -> float:
    """Seconds to wait before using ``n`` tokens of limit ``key`` (``rate`` per second in all), drawing
    as a one-to-one text (``priority``) or a broadcast. Broadcasts get the whole rate unless a one-to-one
    text came in the last ``window`` seconds; then they get ``1 - share`` of it and one-to-one texts the
    ``share``, each in its own FIFO bucket."""
    if rate <= 0:
        return 0.0
    burst = max(1.0, rate)
    if not settings.REDIS_URL:
        return _local.reserve_shared(
            key, full_rate=rate, share=share, full_burst=burst, n=n, priority=priority, window=window
        )
    bulk_key, priority_key, mark_key = _shared_keys(key)
    keys = [f"koinonia:rl:{k}" for k in (priority_key if priority else bulk_key, bulk_key, mark_key)]
    args = [rate, share, burst, n, 1 if priority else 0, int(window * 1_000_000)]
    return int(_redis().reserve_shared_script(keys=keys, args=args)) / 1_000_000


# Carriers filter unregistered 10DLC traffic on these; the console provider texts no one.
UNREGISTERED_LIMITED_PROVIDERS = frozenset({"telnyx", "twilio"})


def priority_share() -> float:
    """The part of every account and sender rate kept for one-to-one texts (replies, opt-out and HELP
    confirmations) while they are being sent, between 0 and 0.9."""
    return min(0.9, max(0.0, float(getattr(settings, "SMS_RATE_PRIORITY_SHARE", 0.1) or 0)))


def sending_limits(*, provider: str, sender_number: str, registered: bool = True) -> list[tuple[str, float]]:
    """The limits one send draws from, with their rates (segments per second): the provider account
    and the sender number. A sender not on a live 10DLC campaign is held to
    ``SMS_RATE_UNREGISTERED_SENDER`` (its own bucket, so the debt run up while throttled does not follow
    the number once it is registered)."""
    limits = getattr(settings, "SMS_RATE_LIMITS", {})
    account = (f"account:{provider}", float(limits.get("account", 50)))
    sender = (f"sender:{sender_number}", float(limits.get("sender", 50)))
    unregistered_rate = float(getattr(settings, "SMS_RATE_UNREGISTERED_SENDER", 0) or 0)
    if not registered and unregistered_rate > 0 and provider in UNREGISTERED_LIMITED_PROVIDERS:
        sender = (f"sender-unregistered:{sender_number}", min(sender[1], unregistered_rate))
    return [account, sender]


def wait_for_capacity(
    *, provider: str, sender_number: str, segments: int, registered: bool = True, priority: bool = False
) -> None:
    """Block until this send fits every limit it draws from (raises on Redis errors: the caller
    treats that as a transient failure and puts the recipient back). ``registered``: the sender is
    on a live 10DLC campaign (the pipeline passes ``bool(sender.campaign_id)``, already loaded).
    ``priority``: a one-to-one text, drawing from the share kept for them (``reserve_shared``); with a
    share of 0 everyone draws from the same buckets."""
    share = priority_share()
    window = float(getattr(settings, "SMS_RATE_PRIORITY_WINDOW", 10.0))
    limits = sending_limits(provider=provider, sender_number=sender_number, registered=registered)
    if share <= 0:
        wait = max(reserve(key, rate=rate, n=segments) for key, rate in limits)
    else:
        wait = max(
            reserve_shared(key, rate=rate, n=segments, share=share, priority=priority, window=window)
            for key, rate in limits
        )
    if wait > 0:
        time.sleep(wait)
