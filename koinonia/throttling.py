"""Rate limits over the Django cache (Redis in production), built on DRF's throttle classes so the API and
the sign-in / sign-up / password-reset / invitation pages share one mechanism and one rate syntax.

Rates are ``"<count>/<period>"`` with period ``s``, ``m``/``min``, ``h``/``hour``, ``d``/``day``, optionally
with a multiple: ``"5/15m"``. Page rates live in ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` under their
scope, read at request time (so a test can lower one with ``settings``)."""

import math
import re
from collections.abc import Callable
from functools import wraps

from django.core.cache import cache
from django.shortcuts import render
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

_PERIOD = re.compile(r"^\s*(\d*)\s*([smhd])[a-z]*\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | tuple[None, None]:
    """``"120/min"`` → (120, 60); ``"5/15m"`` → (5, 900); empty → (None, None): no limit."""
    if not rate:
        return None, None
    count, _, period = rate.partition("/")
    match = _PERIOD.match(period)
    if match is None or not count.strip().isdigit():
        raise ValueError(f"Not a rate: {rate!r} (expected e.g. '120/min' or '5/15m').")
    return int(count), int(match.group(1) or 1) * _SECONDS[match.group(2)]


def client_ip(request) -> str:
    """The caller's address, the one way the whole project reads it: REMOTE_ADDR, or with
    ``REST_FRAMEWORK["NUM_PROXIES"]`` (TRUSTED_PROXY_COUNT) trusted proxies, the address they saw. Never the
    whole client-supplied X-Forwarded-For, which anyone could vary to escape a per-IP limit."""
    return BaseThrottle().get_ident(request) or "unknown"


def _increment(key: str, timeout: int) -> int:
    for _ in range(3):
        cache.add(key, 0, timeout)
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            continue
    return 1


class WindowRateThrottle(SimpleRateThrottle):
    """DRF's SimpleRateThrottle, counting with one atomic cache counter per fixed window instead of DRF's
    list of timestamps: that list is read, changed and written back, so concurrent requests overwrite each
    other's counts (a burst gets through), and at thousands per minute it stores thousands of floats per
    key. A fixed window lets up to twice the rate through across a window edge; the burst throttle that
    runs beside every sustained one bounds that.

    Subclasses give ``get_cache_key`` and, when the rate depends on the request, ``rate_for``."""

    def __init__(self, scope: str | None = None):
        # The rate is settled per request (plans, settings changed at run time), not at construction.
        if scope is not None:
            self.scope = scope
        self.rate = None
        self.num_requests = self.duration = None
        self.count = 0
        self.now = self.reset_at = 0.0

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def rate_for(self, request, view) -> str | None:
        return self.get_rate()

    def parse_rate(self, rate):
        return parse_rate(rate)

    def allow_request(self, request, view) -> bool:
        self.rate = self.rate_for(request, view)
        self.num_requests, self.duration = self.parse_rate(self.rate)
        if self.num_requests is None:
            return True
        ident = self.get_cache_key(request, view)
        if ident is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.reset_at = (window + 1) * self.duration
        self.key = f"{ident}:{self.duration}:{window}"
        self.count = _increment(self.key, self.duration + 1)
        record_limit(request, self)
        return self.count <= self.num_requests

    @property
    def remaining(self) -> int:
        return max(0, (self.num_requests or 0) - self.count)

    def wait(self) -> int:
        return max(1, math.ceil(self.reset_at - self.now))


def record_limit(request, throttle: WindowRateThrottle) -> None:
    """Remember each limit that counted this request, for the RateLimit-* response headers."""
    django_request = getattr(request, "_request", request)
    limits = getattr(django_request, "rate_limits", None)
    if limits is None:
        limits = django_request.rate_limits = []
    limits.append((throttle.num_requests, throttle.remaining, throttle.wait()))


def rate_limit_headers(request, response) -> None:
    """``RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` of the limit closest to running out (on a refusal,
    the one that frees up last, matching Retry-After)."""
    limits = getattr(request, "rate_limits", None)
    if not limits:
        return
    limit, remaining, reset = min(limits, key=lambda item: (item[1], -item[2]))
    response["RateLimit-Limit"] = str(limit)
    response["RateLimit-Remaining"] = str(remaining)
    response["RateLimit-Reset"] = str(reset)


# --- Pages: sign-in, sign-up, password reset, invitations ------------------------------------------


class ClientIpThrottle(WindowRateThrottle):
    """Per caller address, under ``scope``."""

    def get_cache_key(self, request, view):
        return f"throttle:{self.scope}:ip:{client_ip(request)}"


class ValueThrottle(WindowRateThrottle):
    """Per value (an email address, an invitation), whatever the caller's address."""

    def __init__(self, scope: str, value: str):
        super().__init__(scope)
        self.value = value

    def get_cache_key(self, request, view):
        return f"throttle:{self.scope}:{self.value}"


def refused_for(request, *throttles: WindowRateThrottle) -> int | None:
    """Count the request against each throttle; seconds to wait when any refuses, else None. Every
    throttle counts, so a refused attempt still uses up the others' budget."""
    waits = [throttle.wait() for throttle in throttles if not throttle.allow_request(request, None)]
    return max(waits) if waits else None


def too_many_attempts(request, wait: int):
    response = render(request, "errors/429.html", {"minutes": max(1, math.ceil(wait / 60))}, status=429)
    response["Retry-After"] = str(wait)
    return response


def throttle_page(*scopes: str, methods: tuple[str, ...] = ("POST",)) -> Callable:
    """Limit a page view per caller address, for each scope, on ``methods`` (reading a form is not an
    attempt). A refusal is a 429 page saying when to try again."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method in methods:
                wait = refused_for(request, *(ClientIpThrottle(scope) for scope in scopes))
                if wait is not None:
                    return too_many_attempts(request, wait)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
