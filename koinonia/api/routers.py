from rest_framework.routers import SimpleRouter


class OptionalSlashRouter(SimpleRouter):
    """``/api/v1/members`` and ``/api/v1/members/`` both work: integrators type both."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"
