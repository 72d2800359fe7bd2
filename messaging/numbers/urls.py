from django.urls import path

from messaging.numbers import views as number_views

urlpatterns = [
    path("", number_views.NumbersView.as_view(), name="numbers"),
    path("<int:pk>/check/", number_views.NumberCheckView.as_view(), name="number_check"),
]
