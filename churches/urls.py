from django.contrib.auth import views as auth_views
from django.urls import path

from churches import views

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", views.password_reset, name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="registration/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(template_name="registration/password_reset_confirm.html"),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(template_name="registration/password_reset_complete.html"),
        name="password_reset_complete",
    ),
    path("no-church/", views.no_church, name="no_church"),
    path("switch-church/", views.switch_church, name="switch_church"),
    path("invitations/<str:token>/", views.accept_invitation, name="accept_invitation"),
    path("settings/", views.SettingsView.as_view(), name="settings"),
    path("settings/team/", views.TeamView.as_view(), name="team"),
    path("settings/team/<int:pk>/role/", views.TeamMemberRoleView.as_view(), name="team_member_role"),
    path("settings/team/<int:pk>/remove/", views.TeamMemberRemoveView.as_view(), name="team_member_remove"),
    path("settings/api-keys/", views.ApiKeysView.as_view(), name="api_keys"),
    path("settings/api-keys/<int:pk>/revoke/", views.ApiKeyRevokeView.as_view(), name="api_key_revoke"),
    # Directory
    path("members/", views.MemberListView.as_view(), name="members_home"),
    path("members/new/", views.MemberCreateView.as_view(), name="member_create"),
    path("members/bulk/", views.MemberBulkView.as_view(), name="member_bulk"),
    path("members/export.csv", views.MemberExportView.as_view(), name="member_export"),
    path("members/import/", views.MemberImportView.as_view(), name="member_import"),
    path("members/import/<int:pk>/", views.MemberImportJobView.as_view(), name="member_import_job"),
    path("members/import/<int:pk>/status/", views.MemberImportStatusView.as_view(), name="member_import_status"),
    path("members/import/<int:pk>/report.csv", views.MemberImportReportView.as_view(), name="member_import_report"),
    path("members/import/<int:pk>/retry/", views.MemberImportRetryView.as_view(), name="member_import_retry"),
    path("members/<int:pk>/", views.MemberDetailView.as_view(), name="member_detail"),
    path("members/<int:pk>/consent/", views.MemberConsentView.as_view(), name="member_consent"),
    path("members/<int:pk>/delete/", views.MemberDeleteView.as_view(), name="member_delete"),
    path("branches/", views.BranchListView.as_view(), name="branch_list"),
    path("branches/<int:pk>/", views.BranchUpdateView.as_view(), name="branch_update"),
    path("branches/<int:pk>/delete/", views.BranchDeleteView.as_view(), name="branch_delete"),
    path("groups/", views.GroupListView.as_view(), name="group_list"),
    path("groups/<int:pk>/", views.GroupDetailView.as_view(), name="group_detail"),
    path("groups/<int:pk>/delete/", views.GroupDeleteView.as_view(), name="group_delete"),
]
