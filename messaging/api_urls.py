from koinonia.api.routers import OptionalSlashRouter
from messaging import api

router = OptionalSlashRouter()
router.register("messages", api.MessageViewSet, basename="message")
router.register("templates", api.TemplateViewSet, basename="template")

urlpatterns = router.urls

from messaging.recurring_api_urls import urlpatterns as recurring_api_urlpatterns  # noqa: E402

urlpatterns += recurring_api_urlpatterns
