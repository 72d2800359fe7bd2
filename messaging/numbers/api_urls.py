from django.urls import re_path

from koinonia.api.routers import OptionalSlashRouter
from messaging.numbers import api

router = OptionalSlashRouter()
router.register("numbers", api.NumberViewSet, basename="number")

urlpatterns = [*router.urls, re_path(r"^tendlc/?$", api.TenDlcApi.as_view(), name="api_tendlc")]
