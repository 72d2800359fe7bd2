"""Provider callbacks (not under /api/v1): /hooks/telnyx/, /hooks/twilio/..., /hooks/stripe/."""

from django.urls import include, path

urlpatterns = [
    path("", include("messaging.hook_urls")),
    path("", include("conversations.hook_urls")),
    path("", include("billing.hook_urls")),
]
