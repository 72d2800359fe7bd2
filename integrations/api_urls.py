from integrations import api
from koinonia.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("webhook-endpoints", api.WebhookEndpointViewSet, basename="webhook-endpoint")

urlpatterns = router.urls
