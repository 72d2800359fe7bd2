class BusinessRuleError(Exception):
    """A request the rules refuse (last owner, plan limit, opted-out member...). Pages show
    ``message``; the API answers ``status`` with ``code`` in the error shape."""

    def __init__(self, message: str, *, code: str = "invalid", status: int = 400, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.field = field
