from django.urls import path

from conversations import views

urlpatterns = [
    path("", views.InboxView.as_view(), name="conversations_home"),
    path("poll/", views.InboxPollView.as_view(), name="conversations_poll"),
    path("c/<int:pk>/", views.ConversationView.as_view(), name="conversation_detail"),
    path("c/<int:pk>/updates/", views.ConversationUpdatesView.as_view(), name="conversation_updates"),
    path("c/<int:pk>/reply/", views.ReplyView.as_view(), name="conversation_reply"),
    path("c/<int:pk>/note/", views.NoteView.as_view(), name="conversation_note"),
    path("c/<int:pk>/update/", views.ConversationUpdateView.as_view(), name="conversation_update"),
    path("c/<int:pk>/media/<int:message_id>/<int:index>/", views.MediaView.as_view(), name="conversation_media"),
    path("reviews/", views.ReviewQueueView.as_view(), name="conversation_reviews"),
    path(
        "reviews/<int:pk>/<str:decision>/",
        views.ReviewQueueView.as_view(),
        name="conversation_review_decide",
    ),
    path("canned/", views.CannedRepliesView.as_view(), name="conversation_canned"),
    path("canned/<int:pk>/delete/", views.CannedReplyDeleteView.as_view(), name="conversation_canned_delete"),
    path("settings/", views.InboxSettingsView.as_view(), name="conversation_settings"),
    path("settings/notifications/", views.NotificationPreferenceView.as_view(), name="conversation_notifications"),
]
