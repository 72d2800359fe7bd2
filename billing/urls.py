from django.urls import path

from koinonia.views import not_built_yet

urlpatterns = [
    path("", not_built_yet, name="billing_home"),
]
