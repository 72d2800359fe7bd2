from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from koinonia import health, metrics
from koinonia.dashboard import DashboardView
from koinonia.throttling import throttle_page

urlpatterns = [
    # Browsers ask for /favicon.ico whatever the page says.
    path(
        "favicon.ico", RedirectView.as_view(url="/" + settings.STATIC_URL.lstrip("/") + "favicon.svg", permanent=True)
    ),
    path("health", health.health, name="health"),
    path("health/ready", health.ready, name="health_ready"),
    path("metrics", metrics.metrics_view, name="metrics"),
    # The admin's sign-in shares /login/'s per-address limit (django-axes locks accounts on both).
    path("admin/login/", throttle_page("login_ip")(admin.site.login)),
    path("admin/", admin.site.urls),
    path("api/v1/", include("koinonia.api.urls")),
    path("hooks/", include("koinonia.hook_urls")),
    path("dashboard/", DashboardView.as_view(), name="dashboard"),
    path("settings/numbers/", include("messaging.numbers.urls")),
    path("", include("churches.urls")),
    path("settings/10dlc/", include("messaging.numbers.tendlc.urls")),
    path("messages/", include("messaging.broadcasts.urls")),
    path("messages/", include("messaging.recurring.urls")),
    path("inbox/", include("conversations.urls")),
    path("billing/", include("billing.urls")),
    path("settings/integrations/", include("integrations.urls")),
    path("analytics/", include("analytics.urls")),
]

handler404 = "koinonia.views.page_not_found"
handler403 = "koinonia.views.permission_denied"
handler500 = "koinonia.views.server_error"

if settings.DEBUG:  # make run: serve uploads locally (production uses a web server or S3 storage)
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
