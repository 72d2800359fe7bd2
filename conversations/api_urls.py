from conversations import api
from koinonia.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("conversations", api.ConversationViewSet, basename="conversation")
router.register("consent-reviews", api.ConsentReviewViewSet, basename="consent-review")
router.register("canned-replies", api.CannedReplyViewSet, basename="canned-reply")

urlpatterns = router.urls
