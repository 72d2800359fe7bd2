"""/api/v1/: each app contributes its routes through its own ``api_urls`` module."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="api_schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api_schema", permission_classes=[AllowAny]),
        name="api_docs",
    ),
    path("", include("churches.api_urls")),
    path("", include("messaging.broadcasts.api_urls")),
    path("", include("messaging.recurring.api_urls")),
    path("", include("messaging.numbers.api_urls")),
    path("", include("conversations.api_urls")),
    path("", include("billing.api_urls")),
    path("", include("integrations.api_urls")),
    path("", include("analytics.api_urls")),
]
