from django.urls import re_path

from churches import api
from koinonia.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("staff", api.StaffViewSet, basename="staff")
router.register("api-keys", api.ApiKeyViewSet, basename="api-key")
router.register("branches", api.BranchViewSet, basename="branch")
router.register("groups", api.GroupViewSet, basename="group")
router.register("members/import", api.MemberImportViewSet, basename="member-import")
router.register("members", api.MemberViewSet, basename="member")

urlpatterns = [re_path(r"^church/?$", api.CurrentChurchApi.as_view(), name="api_church"), *router.urls]
