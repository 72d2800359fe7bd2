from django.urls import re_path

from analytics import api

urlpatterns = [re_path(r"^analytics/?$", api.AnalyticsApi.as_view(), name="api_analytics")]
