"""Small helpers every API module uses: validate input with a serializer, who is acting, and the
OpenAPI descriptions of the error responses."""

from drf_spectacular.utils import OpenApiResponse

ERROR_DESCRIPTIONS = {
    400: "Invalid input (error shape; details per field).",
    402: "The church's plan or subscription does not allow it now (plan_limit, subscription_inactive).",
    403: "The key's role or scopes do not allow this.",
    404: "No such object in this church.",
    409: "Conflicts with the current state.",
}


def validated_input(serializer_class, data, **kwargs) -> dict:
    """Input serializers only validate (they never write); a failure is a 400 in the error shape."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def acting_user(request):
    """The staff user behind a session request; API-key requests act as the key (recorded separately)."""
    return None if getattr(request, "api_key", None) else request.user


def error_responses(*codes: int, **descriptions: str) -> dict:
    """``error_responses(400, 404, conflict="…")``: OpenAPI responses for the error codes an endpoint
    can answer; ``conflict`` / ``bad_request`` / ``not_found`` override the generic wording."""
    overrides = {
        400: descriptions.get("bad_request"),
        404: descriptions.get("not_found"),
        409: descriptions.get("conflict"),
    }
    return {code: OpenApiResponse(description=overrides.get(code) or ERROR_DESCRIPTIONS[code]) for code in codes}
