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


# --- The error responses every operation can give -------------------------------------------------

ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error of the API (docs/api.md, Errors).",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "Stable, for programs: validation_error, not_found, …"},
                "message": {"type": "string", "description": "For people."},
                "details": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "A field's messages by field name, or {}.",
                },
            },
            "required": ["code", "message", "details"],
        }
    },
    "required": ["error"],
}
_RATE_HEADERS = {
    "RateLimit-Limit": "The limit closest to running out (requests per its window).",
    "RateLimit-Remaining": "Requests left in that window.",
    "RateLimit-Reset": "Seconds until that window resets.",
}
GENERIC_ERRORS = {
    400: "Invalid input (details per field), or a malformed request.",
    401: "No key, or a malformed, unknown, revoked or expired one.",
    403: "The key's role or scopes do not allow this.",
    404: "No such object in this church.",
    413: "The body is too large.",
    415: "Unsupported content type.",
    422: "The Idempotency-Key was used for a different request.",
    429: "Over a rate limit: wait Retry-After seconds.",
}


def _error_statuses(operation: dict) -> set[int]:
    """The errors an operation can answer whatever it does: 400 (bad input, NUL bytes), 401, 403 and
    429 always; 404 when it names an object (a path or query id); 413 / 415 when it takes a body; 422 when
    it takes an Idempotency-Key."""
    parameters = operation.get("parameters", [])
    statuses = {400, 401, 403, 429}
    if any(p.get("in") in ("path", "query") for p in parameters):
        statuses.add(404)
    if "requestBody" in operation:
        statuses |= {413, 415}
    if any(p.get("in") == "header" and p.get("name") == idempotency.HEADER for p in parameters):
        statuses.add(422)
    return statuses


LOCAL_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"


def _local_times(node) -> None:
    """DRF's TimeField reads and writes a local wall-clock time without an offset ("21:00:00"), which the
    OpenAPI ``time`` format (RFC 3339 full-time) does not allow: describe it by its pattern instead."""
    if isinstance(node, dict):
        if node.get("format") == "time" and node.get("type") == "string":
            del node["format"]
            node["pattern"] = LOCAL_TIME_PATTERN
            node.setdefault("example", "21:00:00")
        for value in node.values():
            _local_times(value)
    elif isinstance(node, list):
        for value in node:
            _local_times(value)


def document_errors(result, generator, request, public):
    """drf-spectacular postprocessing hook (``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``): every error
    response carries the error shape (``components.schemas.Error``), every operation lists the errors it can
    answer (endpoints' own ``error_responses`` keep their wording), and a 429 documents its headers. So the
    schema is what clients (and the schemathesis run, tests/koinonia/test_api_fuzz.py) meet."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status in _error_statuses(operation):
                responses.setdefault(str(status), {"description": GENERIC_ERRORS[status]})
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    response["content"] = content
            responses["429"]["headers"] = {
                "Retry-After": {"schema": {"type": "integer"}, "required": True, "description": "Seconds to wait."},
                **{name: {"schema": {"type": "integer"}, "description": text} for name, text in _RATE_HEADERS.items()},
            }
    _local_times(result)
    return result
