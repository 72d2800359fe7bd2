"""The signed-in user's current church, once per request. Here rather than in ``koinonia`` because it
reads StaffMembership, which churches owns; the rest of the tenancy mechanism (``koinonia.tenancy``)
only uses what this sets."""

from django.conf import settings
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers

from churches.models import StaffMembership
from koinonia.roles import Role
from koinonia.tenancy import SESSION_CHURCH_KEY, limit_to_branches


def resolve_session_church(request) -> StaffMembership | None:
    """The membership for the church the user last chose, or their oldest one."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    memberships = StaffMembership.objects.select_related("church").filter(user=user)
    chosen_id = request.session.get(SESSION_CHURCH_KEY)
    membership = memberships.filter(church_id=chosen_id).first() if chosen_id else None
    return membership or memberships.order_by("created_at", "id").first()


class CurrentChurchMiddleware:
    """Resolve the signed-in user's current church once per request: ``request.church`` and
    ``request.role`` (None when signed out or without a church). API-key requests get theirs from
    the key, in the API base class, because DRF authenticates inside the view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        membership = resolve_session_church(request)
        request.membership = membership
        request.church = membership.church if membership else None
        request.role = membership.role if membership else None
        if membership is not None and membership.role != Role.OWNER:
            # Owners always see the whole church (they set the limits).
            limit_to_branches(request.church, membership.branch_ids)
        return self.get_response(request)


class ChurchTimezoneMiddleware:
    """Pages show times in the current church's time zone: every ``|date`` and ``localtime`` in a
    template (inbox, threads, consent history, import history…) follows the zone activated here, after
    ``CurrentChurchMiddleware`` has resolved the church. The API keeps speaking UTC whoever calls it
    (a browser session included), so its timestamps never depend on who asked."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        church = getattr(request, "church", None)
        if church is None or request.path.startswith("/api/"):
            return self.get_response(request)
        with timezone.override(church.tzinfo):
            return self.get_response(request)


class StaffLanguageMiddleware:
    """Pages in the signed-in user's language (``User.language``), else the browser's (Accept-Language,
    among settings.LANGUAGES), else English. The API keeps answering in English whoever calls it, so its
    messages never depend on a browser's settings. After AuthenticationMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            language = settings.LANGUAGE_CODE
        else:
            user = getattr(request, "user", None)
            chosen = user.language if user is not None and user.is_authenticated else ""
            language = chosen or translation.get_language_from_request(request)
        with translation.override(language):
            request.LANGUAGE_CODE = translation.get_language()
            response = self.get_response(request)
        patch_vary_headers(response, ("Accept-Language",))
        response.headers.setdefault("Content-Language", request.LANGUAGE_CODE)
        return response
