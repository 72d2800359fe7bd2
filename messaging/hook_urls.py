from django.urls import path

from messaging import webhooks

urlpatterns = [
    path("telnyx/", webhooks.telnyx_webhook, name="hook_telnyx"),
    path("twilio/status/", webhooks.twilio_status_webhook, name="hook_twilio_status"),
    path("twilio/inbound/", webhooks.twilio_inbound_webhook, name="hook_twilio_inbound"),
]
