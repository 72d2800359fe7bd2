"""Inbound pictures: fetched only from the provider's media hosts over HTTPS at public addresses, every
redirect hop checked, size-capped, images only; stored under our own names; served so that they can
never be HTML or script on our origin.

The media-host fake lives on loopback over plain HTTP, so only the tests that aim at it on purpose
relax ``SMS_MEDIA_ALLOW_PRIVATE_HOSTS`` and list its host; the others prove the defaults refuse it."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from conversations.models import Conversation, ConversationMessage
from tests.conversations.conftest import JPEG, PNG
from tests.fakes.media import FakeMediaHost

GIF = b"GIF89a" + b"\x00" * 50
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 40
HTML = b"<html><script>fetch('/api/v1/members').then(r => r.text()).then(alert)</script></html>"


@pytest.fixture
def media_host():
    with FakeMediaHost() as host:
        yield host


@pytest.fixture
def trusted_fake(settings):
    """Aim the fetcher at the loopback fake explicitly (the only way a test may relax the rules)."""
    settings.SMS_MEDIA_ALLOW_PRIVATE_HOSTS = True
    settings.SMS_MEDIA_HOSTS = {"telnyx": ["127.0.0.1"], "twilio": ["127.0.0.1"]}


def picture_of(member) -> dict:
    message = Conversation.objects.get(member=member).messages.get(direction="inbound")
    return message.media[0]


# --- What is never fetched --------------------------------------------------------------------------


def test_with_default_settings_a_loopback_url_is_not_fetched(hooks, member, media_host):
    url = media_host.add("/1.jpg", JPEG, "image/jpeg")
    response, _ = hooks.telnyx_text(member.phone, "pic", media=[(url, "image/jpeg")])
    assert response.status_code == 200
    assert media_host.requests == []
    item = picture_of(member)
    assert item["path"] == "" and "Could not be downloaded" in item["error"]


def test_a_listed_host_still_needs_https_and_a_public_address(hooks, member, media_host, settings):
    settings.SMS_MEDIA_HOSTS = {"telnyx": ["127.0.0.1", "localhost"]}
    media_host.add("/1.jpg", JPEG, "image/jpeg")
    plain = media_host.url("/1.jpg")
    loopback_https = media_host.url("/1.jpg", host="localhost", scheme="https")  # resolves to 127.0.0.1
    hooks.telnyx_text(member.phone, "pics", media=[(plain, "image/jpeg"), (loopback_https, "image/jpeg")])
    assert media_host.requests == []
    message = Conversation.objects.get(member=member).messages.get()
    assert "https" in message.media[0]["error"]
    assert "public address" in message.media[1]["error"]


def test_hosts_off_the_providers_list_are_not_fetched(hooks, member, media_host, trusted_fake):
    url = media_host.add("/1.jpg", JPEG, "image/jpeg").replace("127.0.0.1", "localhost")
    hooks.telnyx_text(member.phone, "pic", media=[(url, "image/jpeg")])
    assert media_host.requests == []
    assert "media hosts" in picture_of(member)["error"]


def test_link_local_addresses_are_refused_even_when_private_hosts_are_allowed(hooks, member, settings):
    settings.SMS_MEDIA_ALLOW_PRIVATE_HOSTS = True
    settings.SMS_MEDIA_HOSTS = {"telnyx": ["169.254.169.254"]}
    # The network guard would fail the test if anything tried to connect there.
    hooks.telnyx_text(member.phone, "pic", media=[("http://169.254.169.254/latest/meta-data/", "image/jpeg")])
    assert "public address" in picture_of(member)["error"]


def test_a_redirect_to_another_host_is_checked_and_not_followed(hooks, member, trusted_fake):
    with FakeMediaHost() as inner, FakeMediaHost() as outer:
        secret = inner.add("/secret.jpg", JPEG, "image/jpeg").replace("127.0.0.1", "localhost")
        start = outer.add("/start.jpg", redirect_to=secret)
        metadata = outer.add("/metadata", redirect_to="http://169.254.169.254/latest/meta-data/")
        hooks.telnyx_text(member.phone, "pic", media=[(start, "image/jpeg"), (metadata, "image/jpeg")])
        assert outer.requests == ["/start.jpg", "/metadata"]
        assert inner.requests == []
    message = Conversation.objects.get(member=member).messages.get()
    assert [item["path"] for item in message.media] == ["", ""]
    assert "media hosts" in message.media[0]["error"] and message.media[1]["error"]


def test_a_redirect_within_the_allowed_hosts_is_followed(hooks, member, media_host, trusted_fake):
    final = media_host.add("/final.png", PNG, "image/png")
    start = media_host.add("/start", redirect_to="/final.png")
    hooks.telnyx_text(member.phone, "pic", media=[(start, "image/png")])
    assert media_host.requests == ["/start", "/final.png"] and final
    assert picture_of(member)["content_type"] == "image/png"


# --- What is never kept -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "served_type"),
    [
        (HTML, "text/html"),  # what the server says it is
        (HTML, "image/png"),  # a lie the bytes give away
        (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "image/svg+xml"),
        (JPEG, "application/javascript"),  # picture bytes, script label: not kept either
    ],
    ids=["html", "html-labelled-png", "svg", "jpeg-labelled-js"],
)
def test_only_pictures_are_kept(hooks, member, media_host, trusted_fake, data, served_type):
    url = media_host.add("/x", data, served_type)
    hooks.telnyx_text(member.phone, "pic", media=[(url, "image/jpeg")])
    item = picture_of(member)
    assert media_host.requests == ["/x"]
    assert item["path"] == "" and "Could not be downloaded" in item["error"]


@pytest.mark.parametrize("send_length", [True, False], ids=["declared", "undeclared"])
def test_files_over_the_limit_are_not_kept(hooks, member, media_host, trusted_fake, settings, send_length):
    settings.CONVERSATION_INBOUND_MEDIA_MAX_BYTES = 1000
    url = media_host.add("/big.jpg", JPEG + b"\x00" * 300_000, "image/jpeg", send_length=send_length)
    hooks.telnyx_text(member.phone, "pic", media=[(url, "image/jpeg")])
    item = picture_of(member)
    assert item["path"] == "" and "larger than" in item["error"]


def test_the_stored_name_and_type_are_ours_not_the_senders(hooks, member, media_host, trusted_fake, world):
    url = media_host.add("/evil.html", PNG, "image/png")
    hooks.telnyx_text(member.phone, "pic", media=[(url, "text/html")])  # the webhook's claim
    item = picture_of(member)
    assert item["content_type"] == "image/png"
    assert item["path"].startswith(f"conversations/{world.church.pk}/in/") and item["path"].endswith(".png")
    assert "evil" not in item["path"]


@pytest.mark.parametrize(
    ("data", "kind"),
    [(JPEG, "image/jpeg"), (PNG, "image/png"), (GIF, "image/gif"), (WEBP, "image/webp")],
    ids=["jpeg", "png", "gif", "webp"],
)
def test_each_allowed_picture_type_is_recognised_by_its_bytes(data, kind):
    from conversations.services.media import sniff_image_type

    assert sniff_image_type(data) == kind
    assert sniff_image_type(HTML) is None and sniff_image_type(b"") is None


# --- How stored media is served ---------------------------------------------------------------------


def _served(world, message, index=0):
    response = world.page_client().get(reverse("conversation_media", args=[message.conversation_id, message.pk, index]))
    assert response.status_code == 200
    return response


def test_a_picture_is_served_inline_as_itself_and_sandboxed(hooks, member, media_host, trusted_fake, world):
    url = media_host.add("/1.jpg", JPEG, "image/jpeg")
    hooks.telnyx_text(member.phone, "pic", media=[(url, "image/jpeg")])
    message = Conversation.objects.get(member=member).messages.get()
    response = _served(world, message)
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"] == f'inline; filename="picture-{message.pk}-0.jpg"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"


@pytest.mark.parametrize("stored_type", ["text/html", "application/javascript", "image/svg+xml", "", None])
def test_anything_not_an_allowed_picture_is_served_as_an_opaque_download(hooks, member, world, stored_type):
    # A row stored before these rules (or by any other path) with a dangerous type and content.
    hooks.telnyx_text(member.phone, "old picture")
    message = Conversation.objects.get(member=member).messages.get()
    path = default_storage.save(f"conversations/{world.church.pk}/in/legacy.html", ContentFile(HTML))
    ConversationMessage.objects.filter(pk=message.pk).update(
        media=[{"content_type": stored_type, "path": path, "source_url": "", "size": len(HTML), "error": ""}]
    )
    response = _served(world, message)
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;") and "legacy" not in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
