"""``/api/v1/recurring-messages`` (included from ``messaging.broadcasts.api_urls``)."""

from koinonia.api.routers import OptionalSlashRouter
from messaging.recurring.api import RecurringMessageViewSet

router = OptionalSlashRouter()
router.register("recurring-messages", RecurringMessageViewSet, basename="recurring-message")

urlpatterns = router.urls
