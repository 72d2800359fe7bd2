from django.contrib.auth import views as auth_views
from django.urls import path

from churches.views import accounts, branches, church_settings, groups, member_import, members, team

urlpatterns = [
    path("", accounts.home, name="home"),
    path("signup/", accounts.signup, name="signup"),
    path("login/", accounts.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", accounts.password_reset, name="password_reset"),
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
    path("no-church/", accounts.no_church, name="no_church"),
    path("switch-church/", accounts.switch_church, name="switch_church"),
    path("language/", accounts.set_language, name="set_language"),
    path("invitations/<str:token>/", accounts.accept_invitation, name="accept_invitation"),
    path("settings/", church_settings.SettingsView.as_view(), name="settings"),
    path("settings/send-safety/", church_settings.SendSafetyView.as_view(), name="send_safety"),
    path("settings/team/", team.TeamView.as_view(), name="team"),
    path("settings/team/<int:pk>/role/", team.TeamMemberRoleView.as_view(), name="team_member_role"),
    path("settings/team/<int:pk>/branches/", team.TeamMemberBranchesView.as_view(), name="team_member_branches"),
    path("settings/team/<int:pk>/remove/", team.TeamMemberRemoveView.as_view(), name="team_member_remove"),
    path("settings/api-keys/", church_settings.ApiKeysView.as_view(), name="api_keys"),
    path("settings/api-keys/<int:pk>/revoke/", church_settings.ApiKeyRevokeView.as_view(), name="api_key_revoke"),
    path("settings/api-keys/<int:pk>/rotate/", church_settings.ApiKeyRotateView.as_view(), name="api_key_rotate"),
    # Directory
    path("members/", members.MemberListView.as_view(), name="members_home"),
    path("members/new/", members.MemberCreateView.as_view(), name="member_create"),
    path("members/bulk/", members.MemberBulkView.as_view(), name="member_bulk"),
    path("members/export.csv", members.MemberExportView.as_view(), name="member_export"),
    path("members/import/", member_import.MemberImportView.as_view(), name="member_import"),
    path("members/import/<int:pk>/", member_import.MemberImportJobView.as_view(), name="member_import_job"),
    path(
        "members/import/<int:pk>/status/", member_import.MemberImportStatusView.as_view(), name="member_import_status"
    ),
    path(
        "members/import/<int:pk>/report.csv",
        member_import.MemberImportReportView.as_view(),
        name="member_import_report",
    ),
    path("members/import/<int:pk>/retry/", member_import.MemberImportRetryView.as_view(), name="member_import_retry"),
    path("members/<int:pk>/", members.MemberDetailView.as_view(), name="member_detail"),
    path("members/<int:pk>/consent/", members.MemberConsentView.as_view(), name="member_consent"),
    path("members/<int:pk>/delete/", members.MemberDeleteView.as_view(), name="member_delete"),
    path("branches/", branches.BranchListView.as_view(), name="branch_list"),
    path("branches/<int:pk>/", branches.BranchUpdateView.as_view(), name="branch_update"),
    path("branches/<int:pk>/delete/", branches.BranchDeleteView.as_view(), name="branch_delete"),
    path("groups/", groups.GroupListView.as_view(), name="group_list"),
    path("groups/<int:pk>/", groups.GroupDetailView.as_view(), name="group_detail"),
    path("groups/<int:pk>/delete/", groups.GroupDeleteView.as_view(), name="group_delete"),
]
