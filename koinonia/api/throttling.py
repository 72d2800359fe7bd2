"""API rate limits, per key and per staff session, each with a sustained and a burst rate.

An API key's rates come from its church's plan (``API_PLAN_RATE_LIMITS``, by plan code, read through
the plan policy, ``koinonia.policy``, so koinonia needs no billing import); ``API_RATE_LIMIT`` /
``API_BURST_RATE_LIMIT``, when set, override them for every key. Staff browsers calling the API with a
session are limited per user (scopes ``session`` and ``session_burst``). A refusal is DRF's Throttled:
a 429 in the error shape with Retry-After; the RateLimit-* headers are added by ``ApiGuardMiddleware``."""

from django.conf import settings
from django.core.cache import cache

from koinonia import policy
from koinonia.api.authentication import ApiKeyUser
from koinonia.throttling import WindowRateThrottle

# A plan change reaches the limits within this long; meanwhile a key's calls cost no plan query.
PLAN_CACHE_SECONDS = 60


def plan_cache_key(church) -> str:
    return f"api-plan:{church.pk}"


def church_plan_code(church) -> str:
    """The church's plan code ('trial', 'starter', ...), cached briefly; '' without billing."""
    key = plan_cache_key(church)
    code = cache.get(key)
    if code is None:
        code = policy.current().plan_code(church=church)
        cache.set(key, code, PLAN_CACHE_SECONDS)
    return code


def api_key_rates(church) -> tuple[str, str]:
    """(sustained, burst) for a key of ``church``."""
    if settings.API_RATE_LIMIT and settings.API_BURST_RATE_LIMIT:
        return settings.API_RATE_LIMIT, settings.API_BURST_RATE_LIMIT
    plans = settings.API_PLAN_RATE_LIMITS
    sustained, burst = plans.get(church_plan_code(church)) or plans["default"]
    return settings.API_RATE_LIMIT or sustained, settings.API_BURST_RATE_LIMIT or burst


class ApiKeyRateThrottle(WindowRateThrottle):
    scope = "api_key"
    burst = False

    def rate_for(self, request, view):
        user = request.user
        if not isinstance(user, ApiKeyUser):
            return None
        return api_key_rates(user.api_key.church)[1 if self.burst else 0]

    def get_cache_key(self, request, view):
        return f"throttle:{self.scope}:{request.user.api_key.pk}"


class ApiKeyBurstThrottle(ApiKeyRateThrottle):
    scope = "api_key_burst"
    burst = True


class StaffSessionRateThrottle(WindowRateThrottle):
    """A signed-in person using the API from the browser (session auth): per user, not per address."""

    scope = "session"

    def get_cache_key(self, request, view):
        user = request.user
        if isinstance(user, ApiKeyUser) or not user or not user.is_authenticated:
            return None
        return f"throttle:{self.scope}:{user.pk}"


class StaffSessionBurstThrottle(StaffSessionRateThrottle):
    scope = "session_burst"
