"""Before and around a church: sign-up, sign-in (and django-axes' lockout answer), church switching,
invitations and password reset."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from churches import selectors, services
from churches.forms import (
    AcceptInvitationSignupForm,
    EmailAuthenticationForm,
    SignupForm,
)
from churches.models import User
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import SESSION_CHURCH_KEY
from koinonia.throttling import ValueThrottle, refused_for, throttle_page, too_many_attempts


def home(request):
    return redirect("dashboard" if request.user.is_authenticated else "login")


@throttle_page("signup_ip")
def signup(request):
    if request.user.is_authenticated and request.church is not None:
        return redirect("dashboard")
    if request.method == "POST":
        # Per address too: the form says whether an address already has an account, so trying many
        # addresses from many places must stay slow.
        email = request.POST.get("email", "").strip().lower()
        wait = refused_for(request, ValueThrottle("signup_email", f"email:{services.email_digest(email)}"))
        if wait is not None:
            return too_many_attempts(request, wait)
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


@method_decorator(throttle_page("login_ip"), name="dispatch")
class SignInView(auth_views.LoginView):
    form_class = EmailAuthenticationForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True


LOCKED_OUT_MESSAGE = (
    "Too many failed sign-ins for this account, so it is locked for {minutes} minutes. Try again later, "
    "or reset your password."
)


def signin_username(request, credentials) -> str:
    """django-axes counts failures per account: one count whatever the case the email was typed in."""
    return str((credentials or {}).get("username") or request.POST.get("username", "")).strip().lower()


def signin_locked_out(request, response=None, credentials=None):
    """django-axes' answer once an account is locked (AXES_LOCKOUT_CALLABLE), for /login/ and
    /admin/login/ alike: the sign-in form again, saying why, with 429."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    form = EmailAuthenticationForm(request, initial={"username": signin_username(request, credentials)})
    context = {
        "form": form,
        "locked_message": LOCKED_OUT_MESSAGE.format(minutes=minutes),
        "next": request.POST.get("next") or request.GET.get("next", ""),
    }
    locked = render(request, "registration/login.html", context, status=429)
    locked["Retry-After"] = str(minutes * 60)
    return locked


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


@require_POST
@login_required
def set_language(request):
    """The signed-in user's language for the staff pages (blank: the browser's), then back where they were."""
    try:
        services.user_set_language(user=request.user, language=request.POST.get("language", ""))
    except BusinessRuleError as exc:
        messages.error(request, exc.message)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = reverse("dashboard")
    return redirect(back)


@throttle_page("invitation_ip", methods=("GET", "POST"))
def accept_invitation(request, token):
    invitation = services.invitation_find(token=token)
    if invitation is None:
        return render(request, "churches/invitation_invalid.html", status=404)
    if request.method == "POST":
        wait = refused_for(request, ValueThrottle("invitation_account", f"invitation:{invitation.pk}"))
        if wait is not None:
            return too_many_attempts(request, wait)
    if request.user.is_authenticated:
        if not services.invitation_is_for(invitation=invitation, user=request.user):
            # Bound to the invited address: another account (someone forwarded the link, or the wrong
            # account is signed in) changes nothing.
            context = {"invitation": invitation, "signed_in_as": request.user.email}
            return render(request, "churches/invitation_wrong_account.html", context, status=403)
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


@method_decorator(throttle_page("password_reset_ip"), name="dispatch")
class PasswordResetView(auth_views.PasswordResetView):
    template_name = "registration/password_reset.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def form_valid(self, form):
        # At most password_reset_email emails to one address, whatever the callers' addresses. Over the
        # limit the answer is the same "check your email" page, so it reveals nothing, and no email goes.
        email = form.cleaned_data["email"].strip().lower()
        throttle = ValueThrottle("password_reset_email", f"email:{services.email_digest(email)}")
        if refused_for(self.request, throttle) is not None:
            return redirect(self.get_success_url())
        return super().form_valid(form)


password_reset = PasswordResetView.as_view()
