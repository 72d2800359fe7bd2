"""The OpenAPI generator's per-operation class (``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``): drf-spectacular's,
plus the ``Idempotency-Key`` header on every operation whose handler is ``@idempotent``. Done here rather
than by the decorator because ``@action`` replaces a function's schema annotations."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema

from koinonia.api import idempotency


class AutoSchema(SpectacularAutoSchema):
    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self.method == "POST" and idempotency.is_idempotent(self._handler()):
            parameters = [*parameters, idempotency.PARAMETER]
        return parameters

    def _handler(self):
        action = getattr(self.view, "action", None)
        return getattr(self.view, action or self.method.lower(), None)
