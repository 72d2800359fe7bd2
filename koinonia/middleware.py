"""Cross-cutting request middleware: request ids, the API/hook input guard and the CSP header. The
current church is resolved by ``churches.middleware.CurrentChurchMiddleware`` (churches owns the
memberships; this module imports no app)."""

import re
import uuid

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.http import JsonResponse
from django.http.multipartparser import MultiPartParserError

from koinonia.api.parsers import NESTING_MESSAGE, NUL, NUL_MESSAGE, json_nesting_exceeds, query_dict_has_nul
from koinonia.logging import request_id_var
from koinonia.throttling import rate_limit_headers

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


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", "")
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


def error_response(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=status)


_JSON_ERRORS = {404: ("not_found", "Not found."), 405: ("method_not_allowed", "Method not allowed.")}


class ApiGuardMiddleware:
    """Under /api/ and /hooks/ (machines talking to us):

    - a NUL byte in the path, a query parameter or a form field, or a JSON body nested deeper than
      ``MAX_JSON_DEPTH``, is a 400 in the error shape before any view runs (PostgreSQL refuses NUL in text,
      and Python's JSON parser recurses once per level). Webhook views that parse bodies themselves are
      covered too; the API's own parsers check again, and also refuse NUL inside JSON strings;
    - a 404 or 405 that is not already JSON (an unknown path, Django's debug page) becomes the error shape;
    - the RateLimit-* headers of the throttles that counted the request are added.
    Elsewhere, pages keep their HTML error pages."""

    prefixes = ("/api/", "/hooks/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(self.prefixes) and request.path not in ("/api", "/hooks"):
            return self.get_response(request)
        refusal = self._refuse_bad_input(request)
        if refusal is not None:
            return refusal
        response = self.get_response(request)
        if response.status_code in _JSON_ERRORS and not response.get("Content-Type", "").startswith("application/json"):
            allow = response.get("Allow")
            response = error_response(response.status_code, *_JSON_ERRORS[response.status_code])
            if allow:
                response["Allow"] = allow
        rate_limit_headers(request, response)
        return response

    def _refuse_bad_input(self, request):
        if NUL in request.path or query_dict_has_nul(request.GET):
            return error_response(400, "malformed_request", NUL_MESSAGE)
        content_type = request.content_type or ""
        try:
            if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                # Urlencoded bodies stay readable as request.body (webhook signatures); DRF reuses a
                # multipart form parsed here. (Django parses forms on POST only; the API's own form
                # parsers check PUT and PATCH.)
                if request.method == "POST" and query_dict_has_nul(request.POST):
                    return error_response(400, "malformed_request", NUL_MESSAGE)
            elif request.method in ("POST", "PUT", "PATCH"):
                # Whatever the declared type: a webhook view may parse its body as JSON regardless.
                body = request.body
                if body.lstrip()[:1] in (b"[", b"{") and json_nesting_exceeds(body):
                    return error_response(400, "malformed_request", NESTING_MESSAGE)
                request.json_depth_checked = True  # the API's parser need not scan it again
        except RequestDataTooBig:
            return error_response(413, "too_large", "The request body is too large.")
        except (MultiPartParserError, BadRequest, SuspiciousOperation):
            return error_response(400, "malformed_request", "The request body could not be read.")
        return None
