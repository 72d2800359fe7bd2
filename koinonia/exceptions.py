from django.http import Http404


class BusinessRuleError(Exception):
    """A request the rules refuse (last owner, plan limit, opted-out member...). Pages show
    ``message``; the API answers ``status`` with ``code`` in the error shape."""

    def __init__(self, message: str, *, code: str = "invalid", status: int = 400, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.field = field


class NotFound(BusinessRuleError, Http404):
    """The one not-found answer of the access functions (``member_get`` ...): a missing id and another
    church's id raise the same error. It is a ``BusinessRuleError`` (services' callers already handle
    those: the API answers 404 ``not_found``) and an ``Http404`` (an uncaught one is a page's 404)."""

    def __init__(self, message: str = "Not found."):
        super().__init__(message, code="not_found", status=404)
