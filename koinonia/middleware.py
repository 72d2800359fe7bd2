"""Cross-cutting request middleware: request ids, the current church, and the CSP header."""

import re
import uuid

from django.conf import settings

from koinonia.logging import request_id_var
from koinonia.tenancy import resolve_session_church

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Take X-Request-ID from the caller (or a load balancer) if it is sane, else mint one;
    every log line of the request carries it and the response returns it."""

    header = "X-Request-ID"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(self.header, "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response[self.header] = request_id
        return response


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
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", "")
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response
