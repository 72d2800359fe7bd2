"""Fixtures for the provider tests: the fakes, pointed at by settings, and a webhook receiver."""

import pytest

from tests.fakes.base import RecordingReceiver
from tests.fakes.telnyx import FakeTelnyx
from tests.fakes.twilio import FakeTwilio

# Short enough to keep timeout tests fast, long enough for a loaded CI machine on loopback.
TEST_HTTP_TIMEOUT = (2.0, 1.5)


@pytest.fixture
def fast_timeouts(settings):
    settings.SMS_HTTP_TIMEOUT = TEST_HTTP_TIMEOUT


@pytest.fixture
def receiver():
    with RecordingReceiver() as server:
        yield server


@pytest.fixture
def telnyx(settings, fast_timeouts):
    with FakeTelnyx(hang_seconds=4) as fake:
        fake.point_settings_at(settings)
        yield fake


@pytest.fixture
def twilio(settings, fast_timeouts):
    with FakeTwilio(hang_seconds=4) as fake:
        fake.point_settings_at(settings)
        yield fake


@pytest.fixture(params=["telnyx", "twilio"])
def fake(request):
    """Each fake in turn, already configured, for behaviour both providers share."""
    return request.getfixturevalue(request.param)
