"""The project's URLs plus the floor every staff page pays: /bench-minimal/ is a ChurchPageMixin page
(session, sign-in, church resolution, role check) that answers "ok" with no template and no query of its
own. Used by analytics_dashboard as its "truly minimal signed-in page"."""

from django.http import HttpResponse
from django.urls import include, path
from django.views import View

from koinonia.tenancy import ChurchPageMixin


class MinimalPage(ChurchPageMixin, View):
    def get(self, request):
        return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("bench-minimal/", MinimalPage.as_view()), path("", include("koinonia.urls"))]
