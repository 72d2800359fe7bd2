"""Account and team pages: sign-up, sign-in, church switching, settings, team, API keys."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.views import View
from django.views.decorators.http import require_POST

from churches import selectors, services
from churches.forms import (
    AcceptInvitationSignupForm,
    ApiKeyForm,
    ChurchSettingsForm,
    EmailAuthenticationForm,
    InviteForm,
    RoleForm,
    SignupForm,
)
from churches.models import Role, User
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import SESSION_CHURCH_KEY, ChurchPageMixin


def home(request):
    return redirect("dashboard" if request.user.is_authenticated else "login")


def signup(request):
    if request.user.is_authenticated and request.church is not None:
        return redirect("dashboard")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            church, user = services.church_signup(
                church_name=data["church_name"],
                timezone_name=data["timezone"],
                owner_name=data["owner_name"],
                email=data["email"],
                password=data["password"],
            )
        except BusinessRuleError as exc:
            form.add_error(exc.field, exc.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            request.session[SESSION_CHURCH_KEY] = church.pk
            messages.success(request, f"Welcome to Koinonia! {church.name} is on a 14-day free trial.")
            return redirect("dashboard")
    return render(request, "churches/signup.html", {"form": form})


class SignInView(auth_views.LoginView):
    form_class = EmailAuthenticationForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True


class DashboardView(ChurchPageMixin, View):
    def get(self, request):
        return render(request, "churches/dashboard.html", {"church": request.church})


@login_required
def no_church(request):
    if request.church is not None:
        return redirect("dashboard")
    return render(request, "churches/no_church.html")


@require_POST
@login_required
def switch_church(request):
    church_id = request.POST.get("church_id", "")
    membership = next(
        (m for m in selectors.membership_list_for_user(user=request.user) if str(m.church_id) == church_id), None
    )
    if membership is None:
        messages.error(request, "You are not a member of that church.")
    else:
        request.session[SESSION_CHURCH_KEY] = membership.church_id
        messages.success(request, f"Now working in {membership.church.name}.")
    return redirect("dashboard")


class SettingsView(ChurchPageMixin, View):
    roles = {"SAFE": Role.VIEWER, "UNSAFE": Role.ADMIN}

    def get(self, request):
        return self._render(ChurchSettingsForm(instance=request.church))

    def post(self, request):
        form = ChurchSettingsForm(request.POST, instance=request.church)
        if form.is_valid():
            fields = {name: form.cleaned_data[name] for name in form.Meta.fields}
            # The ModelForm already set attributes on the instance; compare against a fresh copy.
            request.church.refresh_from_db()
            services.church_update(church=request.church, acting_user=request.user, **fields)
            messages.success(request, "Settings saved.")
            return redirect("settings")
        return self._render(form, status=400)

    def _render(self, form, status=200):
        can_edit = Role.at_least(self.request.role, Role.ADMIN)
        return render(self.request, "churches/settings.html", {"form": form, "can_edit": can_edit}, status=status)


class TeamView(ChurchPageMixin, View):
    roles = {"SAFE": Role.VIEWER, "UNSAFE": Role.ADMIN}

    def get(self, request):
        return self._render(InviteForm())

    def post(self, request):
        form = InviteForm(request.POST)
        if form.is_valid():
            try:
                services.staff_invite(
                    church=request.church,
                    acting_user=request.user,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                )
            except BusinessRuleError as exc:
                form.add_error(exc.field, exc.message)
            else:
                messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
                return redirect("team")
        return self._render(form, status=400)

    def _render(self, invite_form, status=200):
        church = self.request.church
        context = {
            "team": selectors.team_list(church=church),
            "invitations": selectors.pending_invitation_list(church=church),
            "invite_form": invite_form,
            "roles": Role.choices,
            "can_manage": Role.at_least(self.request.role, Role.ADMIN),
        }
        return render(self.request, "churches/team.html", context, status=status)


class TeamMemberRoleView(ChurchPageMixin, View):
    roles = {"UNSAFE": Role.ADMIN}

    def post(self, request, pk):
        form = RoleForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose a role from the list.")
            return redirect("team")
        try:
            membership = services.staff_change_role(
                church=request.church, acting_user=request.user, membership_id=pk, role=form.cleaned_data["role"]
            )
        except BusinessRuleError as exc:
            if exc.status == 404:
                raise Http404("Not found.") from None
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{membership.user.get_full_name()} is now {membership.get_role_display()}.")
        return redirect("team")


class TeamMemberRemoveView(ChurchPageMixin, View):
    roles = {"UNSAFE": Role.ADMIN}

    def post(self, request, pk):
        try:
            services.staff_remove(church=request.church, acting_user=request.user, membership_id=pk)
        except BusinessRuleError as exc:
            if exc.status == 404:
                raise Http404("Not found.") from None
            messages.error(request, exc.message)
        else:
            messages.success(request, "Removed from the team.")
        return redirect("team")


class ApiKeysView(ChurchPageMixin, View):
    roles = {"SAFE": Role.ADMIN, "UNSAFE": Role.ADMIN}

    def get(self, request):
        return self._render(ApiKeyForm())

    def post(self, request):
        form = ApiKeyForm(request.POST)
        new_key = None
        if form.is_valid():
            _, new_key = services.api_key_create(
                church=request.church,
                acting_user=request.user,
                name=form.cleaned_data["name"],
                role=form.cleaned_data["role"],
            )
            form = ApiKeyForm()
        return self._render(form, new_key=new_key, status=200 if new_key else 400)

    def _render(self, form, new_key=None, status=200):
        context = {"keys": selectors.api_key_list(church=self.request.church), "form": form, "new_key": new_key}
        return render(self.request, "churches/api_keys.html", context, status=status)


class ApiKeyRevokeView(ChurchPageMixin, View):
    roles = {"UNSAFE": Role.ADMIN}

    def post(self, request, pk):
        try:
            api_key = services.api_key_revoke(church=request.church, acting_user=request.user, api_key_id=pk)
        except BusinessRuleError:
            raise Http404("Not found.") from None
        messages.success(request, f"Revoked “{api_key.name}”. Integrations using it will stop working.")
        return redirect("api_keys")


def accept_invitation(request, token):
    invitation = services.invitation_find(token=token)
    if invitation is None:
        return render(request, "churches/invitation_invalid.html", status=404)
    if request.user.is_authenticated:
        if request.method == "POST":
            services.invitation_accept(token=token, user=request.user)
            request.session[SESSION_CHURCH_KEY] = invitation.church_id
            messages.success(request, f"You have joined {invitation.church.name}.")
            return redirect("dashboard")
        return render(request, "churches/invitation_accept.html", {"invitation": invitation})

    existing = User.objects.filter(email__iexact=invitation.email).exists()
    if existing:
        login_url = f"{reverse('login')}?next={reverse('accept_invitation', args=[token])}"
        return render(request, "churches/invitation_accept.html", {"invitation": invitation, "login_url": login_url})
    form = AcceptInvitationSignupForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        user = services.invitation_accept_as_new_user(
            token=token, name=form.cleaned_data["name"], password=form.cleaned_data["password"]
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        request.session[SESSION_CHURCH_KEY] = invitation.church_id
        messages.success(request, f"Welcome! You have joined {invitation.church.name}.")
        return redirect("dashboard")
    return render(request, "churches/invitation_accept.html", {"invitation": invitation, "form": form})


password_reset = auth_views.PasswordResetView.as_view(
    template_name="registration/password_reset.html",
    email_template_name="registration/password_reset_email.txt",
    subject_template_name="registration/password_reset_subject.txt",
    success_url=reverse_lazy("password_reset_done"),
    extra_email_context=None,
)
