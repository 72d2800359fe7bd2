from koinonia.api.routers import OptionalSlashRouter
from messaging.broadcasts import api

router = OptionalSlashRouter()
router.register("messages", api.MessageViewSet, basename="message")
router.register("templates", api.TemplateViewSet, basename="template")

urlpatterns = router.urls
