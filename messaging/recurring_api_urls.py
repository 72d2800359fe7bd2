"""``/api/v1/recurring-messages`` (included from ``messaging.api_urls``)."""

from koinonia.api.routers import OptionalSlashRouter
from messaging.recurring_api import RecurringMessageViewSet

router = OptionalSlashRouter()
router.register("recurring-messages", RecurringMessageViewSet, basename="recurring-message")

urlpatterns = router.urls
