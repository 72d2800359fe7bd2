"""``Idempotency-Key`` for every API call that creates something: one mechanism, one decorator.

    @extend_schema(...)
    @idempotent
    def create(self, request): ...

A client sends ``Idempotency-Key: <up to 128 printable characters, a UUID is ideal>`` and may then retry
the same request safely (a timeout, a dropped connection):

- same key, same request → the stored answer is replayed (same status and body, plus the header
  ``Idempotent-Replayed: true``); nothing is created twice;
- same key, different request (another body or endpoint) → 422 ``idempotency_key_reused``;
- keys are scoped per church and per caller (the API key, or the signed-in person): another key of the
  same church may use the same value without meeting the first one's answer;
- only successful (2xx) answers are stored. An error stores nothing, so a corrected retry with the same
  key is processed as new;
- a stored answer is kept ``RETENTION`` (24 hours); after that the key is free again. Expired records
  are deleted hourly.

How it holds under concurrency: the key is claimed (a row with a unique key) in the same transaction as
the endpoint's own writes, and the answer is stored before it commits. A duplicate arriving meanwhile
waits on that row (PostgreSQL's unique index; SQLite has one writer at a time), then finds the stored
answer and replays it — or, if the first request failed and rolled back, is processed itself. So the
answer and what it created commit together or not at all.

The request is identified by an HMAC (keyed with SECRET_KEY) of the method, the path (trailing slash
ignored) and the body in a canonical form (JSON with sorted keys; form fields sorted; an uploaded file by
name, size and SHA-256). The store (``settings.API_IDEMPOTENCY_STORE``, the model lives in an app:
``churches.idempotency``) keeps that digest and the answer, encrypted (it can hold a member's phone)."""

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import QueryDict
from django.utils.crypto import salted_hmac
from django.utils.module_loading import import_string
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from koinonia.api.errors import ApiError

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 128
RETENTION = timedelta(hours=24)

PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=f"Up to {MAX_KEY_LENGTH} printable characters (a UUID per intended object). Retrying with the "
    "same key and body replays the first answer (with `Idempotent-Replayed: true`); the same key with another "
    "body is a 422 `idempotency_key_reused`. Kept 24 hours, per API key.",
)


@dataclass(frozen=True)
class StoredAnswer:
    fingerprint: str
    status_code: int | None  # None: claimed by a request that has not finished
    body: str


def get_store():
    return import_string(settings.API_IDEMPOTENCY_STORE)()


def idempotency_key(request) -> str:
    key = (request.headers.get(HEADER) or "").strip()
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise serializers.ValidationError(
            {HEADER: [f"Use at most {MAX_KEY_LENGTH} printable characters (a UUID is ideal)."]}
        )
    return key


def caller(request) -> str:
    """Who the key belongs to: the API key, or the signed-in person."""
    api_key = getattr(request, "api_key", None)
    if api_key is not None:
        return f"key:{api_key.pk}"
    return f"user:{request.user.pk}"


def _canonical(value):
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return {"file": value.name, "size": value.size, "sha256": digest.hexdigest()}
    if isinstance(value, QueryDict):
        return {key: [_canonical(v) for v in values] for key, values in sorted(value.lists())}
    if isinstance(value, dict):
        return {str(key): _canonical(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def request_fingerprint(request) -> str:
    body = json.dumps(_canonical(request.data), sort_keys=True, separators=(",", ":"), default=str)
    text = f"{request.method}\n{request.path.rstrip('/')}\n{body}"
    return salted_hmac("koinonia.api.idempotency", text, algorithm="sha256").hexdigest()


def _replay(stored: StoredAnswer) -> Response:
    data = json.loads(stored.body) if stored.body else None
    return Response(data, status=stored.status_code, headers={REPLAYED_HEADER: "true"})


def idempotent(handler):
    """Make a create handler honour ``Idempotency-Key`` (see the module docstring). Put it closest to
    the ``def``, under ``@extend_schema`` / ``@action``. The OpenAPI operation gets the header."""

    @wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = idempotency_key(request) if request.method == "POST" else ""
        if not key:
            return handler(view, request, *args, **kwargs)
        fingerprint = request_fingerprint(request)
        store = get_store()
        scope = {"church": request.church, "caller": caller(request), "key": key}
        with transaction.atomic():
            stored = store.claim(**scope, fingerprint=fingerprint, retention=RETENTION)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    raise ApiError(
                        f"This {HEADER} was already used for a different request. Use a new key for a new "
                        "request; retry only with exactly the same body.",
                        code="idempotency_key_reused",
                        status_code=422,
                        details={HEADER: ["Already used with a different request."]},
                    )
                if stored.status_code is None:  # not reachable with the store's locking; kept as a guard
                    raise ApiError(
                        f"A request with this {HEADER} is still being processed; retry shortly.",
                        code="conflict",
                        status_code=409,
                    )
                return _replay(stored)
            response = handler(view, request, *args, **kwargs)
            if 200 <= response.status_code < 300:
                body = JSONRenderer().render(response.data).decode() if response.data is not None else ""
                store.complete(**scope, status_code=response.status_code, body=body)
            else:
                store.release(**scope)
            return response

    wrapper.idempotent = True  # koinonia.api.schema.AutoSchema documents the header from this
    return wrapper


def is_idempotent(handler) -> bool:
    return getattr(handler, "idempotent", False)
