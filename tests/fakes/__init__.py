"""Local fakes of the outside world, speaking each provider's real wire format over loopback HTTP.

    with FakeTelnyx(inbound_webhook_url=...) as telnyx:
        telnyx.point_settings_at(settings)       # SMS_PROVIDER, TELNYX_API_BASE, key, public key
        telnyx.fail_next(2, 503); telnyx.block("+15555550123"); telnyx.set_rate_limit(50)
        get_provider().send(...)                 # real HTTP to the fake
        telnyx.wait_for_webhooks()               # signed callbacks have reached webhook_url

``tests/fakes/base.py`` holds the machinery both share; ``RecordingReceiver`` stands in for our webhook
endpoint when a test needs to see what a fake posts.
"""
