from django.urls import path

from messaging.broadcasts import views

urlpatterns = [
    path("", views.MessageListView.as_view(), name="messaging_home"),
    path("new", views.ComposeView.as_view(), name="message_compose"),
    path("new/members.json", views.MemberSearchView.as_view(), name="message_member_search"),
    path("<int:pk>/", views.MessageDetailView.as_view(), name="message_detail"),
    path("<int:pk>/progress.json", views.MessageProgressView.as_view(), name="message_progress"),
    path("<int:pk>/cancel/", views.MessageCancelView.as_view(), name="message_cancel"),
    path("<int:pk>/approve/", views.MessageApproveView.as_view(), name="message_approve"),
    path("<int:pk>/reject/", views.MessageRejectView.as_view(), name="message_reject"),
    path("<int:pk>/resend-failed/", views.MessageResendFailedView.as_view(), name="message_resend_failed"),
    path("templates/", views.TemplateListView.as_view(), name="message_templates"),
    path("templates/new/", views.TemplateCreateView.as_view(), name="message_template_new"),
    path("templates/<int:pk>/edit/", views.TemplateEditView.as_view(), name="message_template_edit"),
    path("templates/<int:pk>/delete/", views.TemplateDeleteView.as_view(), name="message_template_delete"),
]
