"""Twilio webhook signatures (docs/providers.md §2.5): ``X-Twilio-Signature`` is
base64(HMAC-SHA1(auth token, URL + each name+value, names sorted)).

Verified before anything else touches the callback, over ``request.POST`` and the public URL Twilio
signed (rebuilt behind the proxy from ``PUBLIC_BASE_URL``).
"""

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from messaging.providers.events import SignatureError

SIGNATURE_HEADER = "X-Twilio-Signature"

_DEFAULT_PORTS = {"https": 443, "http": 80}


def configured() -> bool:
    """Twilio callbacks are signed with the account's auth token; without the account (a Telnyx or console
    deployment) there is no Twilio to hear from."""
    return bool(settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN)


def verify_request(request) -> None:
    """:func:`verify_twilio` for a Django request, against the URL Twilio signed."""
    url = request.build_absolute_uri()
    public = settings.PUBLIC_BASE_URL
    if public:  # behind a proxy, the URL Twilio signed is the public one
        url = public + request.get_full_path()
    verify_twilio(url, request.POST, request.headers.get(SIGNATURE_HEADER), auth_token=settings.TWILIO_AUTH_TOKEN)


def twilio_signature(url: str, params: Mapping[str, Any], *, auth_token: str) -> str:
    """Twilio's signature: base64(HMAC-SHA1(auth_token, url + each name+value, names sorted)).

    ``params`` may map a name to one string or to several (a Django ``QueryDict`` works too); repeated
    values are de-duplicated and sorted, as Twilio does.
    """
    message = url + "".join(f"{name}{value}" for name, values in sorted(_param_lists(params)) for value in values)
    digest = hmac.new(auth_token.encode(), message.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify_twilio(url: str, params: Mapping[str, Any], signature: str | None, *, auth_token: str) -> None:
    """Check ``X-Twilio-Signature`` for a form POST to ``url``.

    Twilio may have signed the URL with or without the scheme's default port, whichever way the webhook
    was configured, so both spellings are accepted. An empty ``auth_token`` verifies nothing: anyone can
    compute an HMAC under the empty key, so accepting it would accept forgeries.
    """
    if not auth_token:
        raise SignatureError("no Twilio auth token is configured")
    if not signature:
        raise SignatureError("missing X-Twilio-Signature header")
    for candidate in _url_port_variants(url):
        if hmac.compare_digest(twilio_signature(candidate, params, auth_token=auth_token), signature):
            return
    raise SignatureError("signature does not match")


def _param_lists(params: Mapping[str, Any]) -> Iterable[tuple[str, list[str]]]:
    items = params.lists() if hasattr(params, "lists") else params.items()
    for name, value in items:
        values = [value] if isinstance(value, str) else list(value)
        yield name, sorted(set(values))


def _url_port_variants(url: str) -> list[str]:
    """``url`` as given, plus the same URL with the default port added (if absent) or removed (if present)."""
    parts = urlsplit(url)
    default_port = _DEFAULT_PORTS.get(parts.scheme)
    if default_port is None or parts.hostname is None:
        return [url]
    userinfo = parts.netloc.rpartition("@")[0]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    bare_netloc = f"{userinfo}@{host}" if userinfo else host
    other_netloc = bare_netloc if parts.port is not None else f"{bare_netloc}:{default_port}"
    return [url, urlunsplit(parts._replace(netloc=other_netloc))]
