from django.contrib.auth import views as auth_views
from django.urls import path

from churches import views
from koinonia.views import not_built_yet

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
    path("dashboard/", views.DashboardView.as_view(), name="dashboard"),
    path("no-church/", views.no_church, name="no_church"),
    path("switch-church/", views.switch_church, name="switch_church"),
    path("invitations/<str:token>/", views.accept_invitation, name="accept_invitation"),
    path("settings/", views.SettingsView.as_view(), name="settings"),
    path("settings/team/", views.TeamView.as_view(), name="team"),
    path("settings/team/<int:pk>/role/", views.TeamMemberRoleView.as_view(), name="team_member_role"),
    path("settings/team/<int:pk>/remove/", views.TeamMemberRemoveView.as_view(), name="team_member_remove"),
    path("settings/api-keys/", views.ApiKeysView.as_view(), name="api_keys"),
    path("settings/api-keys/<int:pk>/revoke/", views.ApiKeyRevokeView.as_view(), name="api_key_revoke"),
    # Filled by the Directory issue.
    path("members/", not_built_yet, name="members_home"),
]
