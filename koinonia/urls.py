from django.contrib import admin
from django.urls import include, path

from koinonia import health

urlpatterns = [
    path("health", health.health, name="health"),
    path("health/ready", health.ready, name="health_ready"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("koinonia.api.urls")),
    path("hooks/", include("koinonia.hook_urls")),
    path("", include("churches.urls")),
    path("messages/", include("messaging.urls")),
    path("inbox/", include("conversations.urls")),
    path("billing/", include("billing.urls")),
]

handler404 = "koinonia.views.page_not_found"
handler403 = "koinonia.views.permission_denied"
