from django.urls import re_path

from billing import api

urlpatterns = [re_path(r"^usage/?$", api.UsageApi.as_view(), name="api_usage")]
