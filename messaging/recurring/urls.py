"""Pages under /messages/recurring/ (added to ``messaging.broadcasts.urls``)."""

from django.urls import path

from messaging.recurring import views

urlpatterns = [
    path("recurring/", views.RecurringListView.as_view(), name="recurring_list"),
    path("recurring/new/", views.RecurringFormView.as_view(), name="recurring_new"),
    path("recurring/<int:pk>/", views.RecurringDetailView.as_view(), name="recurring_detail"),
    path("recurring/<int:pk>/edit/", views.RecurringFormView.as_view(), name="recurring_edit"),
    path("recurring/<int:pk>/pause/", views.RecurringActionView.as_view(action="pause"), name="recurring_pause"),
    path("recurring/<int:pk>/resume/", views.RecurringActionView.as_view(action="resume"), name="recurring_resume"),
    path("recurring/<int:pk>/delete/", views.RecurringActionView.as_view(action="delete"), name="recurring_delete"),
]
