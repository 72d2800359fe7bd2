"""One error shape for the whole API: ``{"error": {"code", "message", "details"}}``."""

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from koinonia.exceptions import BusinessRuleError


class ApiError(exceptions.APIException):
    """A business-rule refusal with its own code (plan limit, conflict, ...)."""

    def __init__(self, message: str, *, code: str = "invalid", status_code: int = 400, details=None):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.details = details or {}


_CODES = {
    exceptions.ParseError: "malformed_request",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ValidationError: "validation_error",
}


def _message_for(exc) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "The request has invalid fields."
    if isinstance(exc, exceptions.Throttled):
        wait = max(1, int(exc.wait or 1))
        return f"Too many requests. Try again in {wait} second{'s' if wait != 1 else ''}."
    detail = exc.detail
    if isinstance(detail, list | dict):
        return "The request could not be processed."
    return str(detail)


def exception_handler(exc, context):
    if isinstance(exc, BusinessRuleError):
        details = {exc.field: [exc.message]} if exc.field else {}
        exc = ApiError(exc.message, code=exc.code, status_code=exc.status, details=details)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django's 500 handling log it

    if isinstance(exc, ApiError):
        code, details = exc.error_code, exc.details
    else:
        code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), "error")
        details = exc.detail if isinstance(exc, exceptions.ValidationError) else {}
        if isinstance(details, list):
            details = {"non_field_errors": details}
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response.status_code = status.HTTP_401_UNAUTHORIZED
    response.data = {"error": {"code": code, "message": _message_for(exc), "details": details}}
    return response
