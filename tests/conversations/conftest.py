"""Conversation tests talk to our webhooks the way the providers do: signed payloads built by the local
fakes (tests/fakes), posted to /hooks/telnyx/ and /hooks/twilio/inbound/; replies go out to the fakes."""

import base64
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import Client, TestCase

from churches.models import SmsStatus
from messaging.models import SenderNumber
from tests.factories import MemberFactory
from tests.fakes.telnyx import TEST_SIGNING_SEED, FakeTelnyx
from tests.fakes.twilio import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, FakeTwilio

CHURCH_NUMBER = "+13125550100"
OTHER_CHURCH_NUMBER = "+13125550199"
PUBLIC_BASE = "http://127.0.0.1:9"  # nothing listens: status callbacks the fakes post go nowhere
TELNYX_HOOK = "/hooks/telnyx/"
TWILIO_HOOK = "/hooks/twilio/inbound/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 300

_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def _media_and_urls(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PUBLIC_BASE_URL = PUBLIC_BASE
    settings.SMS_HTTP_TIMEOUT = (1.0, 2.0)


@pytest.fixture
def telnyx(settings):
    with FakeTelnyx() as fake:
        fake.point_settings_at(settings)
        yield fake


@pytest.fixture
def twilio(settings):
    with FakeTwilio() as fake:
        fake.point_settings_at(settings)
        yield fake


@pytest.fixture
def number(world):
    return SenderNumber.objects.create(church=world.church, phone_number=CHURCH_NUMBER, provider="telnyx")


@pytest.fixture
def twilio_number(world):
    return SenderNumber.objects.create(church=world.church, phone_number=CHURCH_NUMBER, provider="twilio")


@pytest.fixture
def member(world):
    return MemberFactory(church=world.church, first_name="Ruth", last_name="Moabite", sms_status=SmsStatus.SUBSCRIBED)


class Hooks:
    """Posts signed provider webhooks to our endpoints through the Django test client."""

    def __init__(self, telnyx: FakeTelnyx | None = None, twilio: FakeTwilio | None = None):
        self.client = Client()
        self.telnyx = telnyx
        self.twilio = twilio

    def telnyx_text(self, from_number, text, *, to=CHURCH_NUMBER, media=(), keyword=None, message_id=None):
        fake = self.telnyx
        build = fake.inbound_webhook(
            message_id=message_id or f"00000000-0000-4000-8000-{next(_ids):012d}",
            from_number=from_number,
            to_number=to,
            text=text,
            media=media,
            keyword=keyword,
            url=PUBLIC_BASE + TELNYX_HOOK,
        )
        body, headers = build(1)
        return self.post_telnyx(body, headers), (body, headers)

    def post_telnyx(self, body: bytes, headers: dict):
        with run_on_commit():
            return self.client.post(TELNYX_HOOK, data=body, content_type="application/json", headers=_extra(headers))

    def telnyx_event(self, data: dict):
        """Any Telnyx event, signed with the fake's test key (delivery statuses of our replies)."""
        body = json.dumps({"data": data, "meta": {"attempt": 1}}).encode()
        timestamp = str(int(time.time()))
        key = Ed25519PrivateKey.from_private_bytes(TEST_SIGNING_SEED)
        signature = base64.b64encode(key.sign(timestamp.encode() + b"|" + body)).decode()
        return self.post_telnyx(body, {"telnyx-signature-ed25519": signature, "telnyx-timestamp": timestamp})

    def twilio_text(self, from_number, text, *, to=CHURCH_NUMBER, media=(), keyword=None, message_id=None):
        build = self.twilio.inbound_webhook(
            message_id=message_id or f"SM{next(_ids):032d}",
            from_number=from_number,
            to_number=to,
            text=text,
            media=media,
            keyword=keyword,
            url=PUBLIC_BASE + TWILIO_HOOK,
        )
        body, headers = build(1)
        with run_on_commit():
            return self.client.post(
                TWILIO_HOOK, data=body, content_type="application/x-www-form-urlencoded", headers=_extra(headers)
            )


def run_on_commit():
    """Tests run inside a transaction that never commits: run the after-commit tasks (eager) as the
    request ends, as production would after its commit."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def _extra(headers: dict) -> dict:
    return {k: v for k, v in headers.items() if k.lower() != "content-type"}


@pytest.fixture
def hooks(telnyx, number):
    return Hooks(telnyx=telnyx)


@pytest.fixture
def twilio_hooks(twilio, twilio_number):
    return Hooks(twilio=twilio)


class MediaServer:
    """A tiny loopback server standing in for the providers' media hosts (Twilio's needs Basic auth)."""

    def __init__(self, require_auth: bool = False):
        self.files: dict[str, tuple[bytes, str]] = {}
        self.require_auth = require_auth
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                expected = "Basic " + base64.b64encode(f"{TEST_ACCOUNT_SID}:{TEST_AUTH_TOKEN}".encode()).decode()
                if server.require_auth and self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                found = server.files.get(self.path)
                if found is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                data, content_type = found
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path: str, data: bytes, content_type: str) -> str:
        self.files[path] = (data, content_type)
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def allow_local_media_server(settings) -> None:
    """Only tests aimed at the loopback media fake relax the media fetcher's HTTPS and public-address
    rules, and only for that fake's host."""
    settings.SMS_MEDIA_ALLOW_PRIVATE_HOSTS = True
    settings.SMS_MEDIA_HOSTS = {"telnyx": ["127.0.0.1"], "twilio": ["127.0.0.1"]}


@pytest.fixture
def media_server(settings):
    allow_local_media_server(settings)
    server = MediaServer()
    yield server
    server.close()


@pytest.fixture
def twilio_media_server(settings):
    allow_local_media_server(settings)
    server = MediaServer(require_auth=True)
    yield server
    server.close()
