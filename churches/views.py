"""Staff pages: sign-up, sign-in, church switching, settings, team, API keys; and the directory
(members, branches, groups, CSV import and export)."""

import csv
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.http import require_POST

from churches import imports, listing, selectors, services
from churches.forms import (
    AcceptInvitationSignupForm,
    ApiKeyForm,
    BranchForm,
    BulkMemberForm,
    ChurchSettingsForm,
    ConsentForm,
    EmailAuthenticationForm,
    GroupForm,
    ImportStartForm,
    ImportUploadForm,
    InviteForm,
    MemberCreateForm,
    MemberFilterForm,
    MemberForm,
    RoleForm,
    SignupForm,
)
from churches.models import Branch, ConsentEvent, Group, ImportJob, Member, Role, SmsStatus, User
from churches.phones import format_phone_for_display
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import SESSION_CHURCH_KEY, ChurchPageMixin
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


# --- Directory: members, branches, groups, import and export --------------------------------------

STATUS_BADGES = {SmsStatus.SUBSCRIBED: "badge-ok", SmsStatus.UNSUBSCRIBED: "badge-bad", SmsStatus.NEVER_CONSENTED: ""}


class _Echo:
    """A file-like object whose write() hands the line back, for streaming csv.writer output."""

    def write(self, value):
        return value


def _member_rows(church, members, group_ids: dict[int, list[int]], group_names: dict[int, str]):
    return [
        {
            "member": member,
            "phone": format_phone_for_display(member.phone),
            "badge": STATUS_BADGES.get(member.sms_status, ""),
            "groups": [group_names[g] for g in group_ids.get(member.pk, []) if g in group_names],
        }
        for member in members
    ]


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


class MemberListView(ChurchPageMixin, View):
    """Search, filters, sort and keyset pagination: a fixed number of queries at any depth."""

    def get(self, request):
        church = request.church
        branches = listing.branch_choices(church=church)
        groups = listing.group_choices(church=church)
        form = MemberFilterForm(request.GET or None, branches=branches, groups=groups)
        filters = form.filters()
        page = listing.member_page(
            church=church,
            after=request.GET.get("after", ""),
            before=request.GET.get("before", ""),
            size=listing.MEMBER_PAGE_SIZE,
            **filters,
        )
        group_ids = selectors.member_group_ids(church=church, member_ids=[m.pk for m in page.members])
        query = {key: value for key, value in request.GET.items() if key in form.fields and value}
        context = {
            "form": form,
            "page": page,
            "rows": _member_rows(church, page.members, group_ids, dict(groups)),
            "groups": groups,
            "filter_query": urlencode(query),
            "sort": filters["sort"],
            # Column headers toggle their sort: Name A–Z ↔ Z–A, Added newest ↔ oldest.
            "sort_links": {
                "name": urlencode({**query, "sort": "-name" if filters["sort"] == "name" else "name"}),
                "created": urlencode({**query, "sort": "created" if filters["sort"] == "-created" else "-created"}),
            },
            "next_query": urlencode({**query, "after": page.next_cursor}) if page.next_cursor else "",
            "previous_query": urlencode({**query, "before": page.previous_cursor}) if page.previous_cursor else "",
            "is_filtered": any(value for key, value in query.items() if key != "sort"),
            "can_edit": Role.at_least(request.role, Role.STAFF),
            "can_delete": Role.at_least(request.role, Role.ADMIN),
        }
        return render(request, "churches/members/list.html", context)


class MemberBulkView(ChurchPageMixin, View):
    """Bulk actions on ticked members. Adding/removing from groups is staff work; deleting is admin."""

    roles = {"UNSAFE": Role.STAFF}

    def post(self, request):
        church = request.church
        form = BulkMemberForm(request.POST, groups=listing.group_choices(church=church))
        back = _safe_next(request, reverse("members_home"))
        if not form.is_valid():
            messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
            return redirect(back)
        action, member_ids = form.cleaned_data["action"], form.cleaned_data["member_ids"]
        if action == "delete":
            if not Role.at_least(request.role, Role.ADMIN):
                raise PermissionDenied("Only admins can delete members.")
            deleted = services.member_delete_many(church=church, member_ids=member_ids, acting_user=request.user)
            messages.success(request, f"Deleted {deleted} member{'s' if deleted != 1 else ''}.")
            return redirect(back)
        group = listing.group_get(church=church, pk=form.cleaned_data["group"])
        if action == "add_to_group":
            added = services.group_members_add(
                church=church, group=group, member_ids=member_ids, acting_user=request.user
            )
            messages.success(request, f"Added {added} member{'s' if added != 1 else ''} to {group.name}.")
        else:
            removed = services.group_members_remove(
                church=church, group=group, member_ids=member_ids, acting_user=request.user
            )
            messages.success(request, f"Removed {removed} member{'s' if removed != 1 else ''} from {group.name}.")
        return redirect(back)


class MemberCreateView(ChurchPageMixin, View):
    roles = {"SAFE": Role.STAFF, "UNSAFE": Role.STAFF}

    def _form(self, data=None):
        church = self.request.church
        return MemberCreateForm(
            data, branches=listing.branch_choices(church=church), groups=listing.group_choices(church=church)
        )

    def get(self, request):
        return render(request, "churches/members/new.html", {"form": self._form()})

    def post(self, request):
        form = self._form(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                member = services.member_create(
                    church=request.church,
                    acting_user=request.user,
                    phone=data["phone"],
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    email=data["email"],
                    branch=data["branch"],
                    group_ids=data["groups"],
                    timezone_name=data["timezone"],
                    consent=data["consent"],
                )
            except BusinessRuleError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, f"Added {member.full_name or 'the member'}.")
                return redirect("member_detail", pk=member.pk)
        return render(request, "churches/members/new.html", {"form": form}, status=400)


class MemberDetailView(ChurchPageMixin, View):
    """Details, groups and consent history; staff edit here. sms_status is not editable: consent
    changes go through the consent form so each has a ledger row."""

    model = Member

    def _form(self, member, data=None):
        church = self.request.church
        initial = {
            "first_name": member.first_name,
            "last_name": member.last_name,
            "phone": format_phone_for_display(member.phone),
            "email": member.email,
            "branch": member.branch_id,
            "groups": selectors.member_group_ids(church=church, member_ids=[member.pk])[member.pk],
            "timezone": member.timezone,
        }
        return MemberForm(
            data,
            initial=initial,
            branches=listing.branch_choices(church=church),
            groups=listing.group_choices(church=church),
        )

    def get(self, request, pk):
        member = self.get_object()
        return self._render(member, self._form(member))

    def post(self, request, pk):
        member = self.get_object()
        form = self._form(member, request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.member_update(
                    church=request.church,
                    member=member,
                    acting_user=request.user,
                    group_ids=data["groups"],
                    first_name=data["first_name"].strip(),
                    last_name=data["last_name"].strip(),
                    phone=data["phone"],
                    email=data["email"],
                    branch=data["branch"],
                    timezone=data["timezone"],
                )
            except BusinessRuleError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, "Saved.")
                return redirect("member_detail", pk=member.pk)
        return self._render(member, form, status=400)

    def _render(self, member, form, consent_form=None, status=200):
        church = self.request.church
        context = {
            "member": member,
            "phone": format_phone_for_display(member.phone),
            "badge": STATUS_BADGES.get(member.sms_status, ""),
            "form": form,
            "consent_form": consent_form or ConsentForm(),
            "history": selectors.consent_history(church=church, member=member),
            "can_edit": Role.at_least(self.request.role, Role.STAFF),
            "can_delete": Role.at_least(self.request.role, Role.ADMIN),
            "is_opted_out": member.sms_status == SmsStatus.UNSUBSCRIBED,
        }
        return render(self.request, "churches/members/detail.html", context, status=status)


class MemberConsentView(MemberDetailView):
    """Staff record an opt-out (always allowed) or an opt-in (refused after an opt-out: only the
    member can opt back in)."""

    roles = {"UNSAFE": Role.STAFF}
    http_method_names = ["post"]

    def post(self, request, pk):
        member = self.get_object()
        form = ConsentForm(request.POST)
        if form.is_valid():
            try:
                services.consent_record(
                    church=request.church,
                    member=member,
                    kind=form.cleaned_data["kind"],
                    source=ConsentEvent.Source.STAFF,
                    raw_text=form.cleaned_data["note"].strip(),
                    actor=request.user,
                )
            except BusinessRuleError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, "Recorded in the consent history.")
                return redirect("member_detail", pk=member.pk)
        return self._render(member, self._form(member), consent_form=form, status=400)


class MemberDeleteView(ChurchPageMixin, View):
    model = Member
    roles = {"UNSAFE": Role.ADMIN}

    def post(self, request, pk):
        member = self.get_object()
        services.member_delete_many(church=request.church, member_ids=[member.pk], acting_user=request.user)
        messages.success(request, f"Deleted {member.full_name or 'the member'}.")
        return redirect("members_home")


class MemberExportView(ChurchPageMixin, View):
    """The filtered member list as CSV, streamed. Staff and up: it is the whole phone book."""

    roles = {"SAFE": Role.STAFF}
    HEADER = ["First Name", "Last Name", "Mobile", "Email", "Branch", "Groups", "SMS Status", "Time Zone", "Added"]

    def get(self, request):
        church = request.church
        form = MemberFilterForm(
            request.GET or None,
            branches=listing.branch_choices(church=church),
            groups=listing.group_choices(church=church),
        )
        filters = form.filters()
        group_names = dict(listing.group_choices(church=church))
        services.audit_record(
            church=church,
            actor=request.user,
            action="members.exported",
            data={key: value for key, value in filters.items() if value and key != "q"},
        )
        safe = imports.spreadsheet_safe

        def lines():
            writer = csv.writer(_Echo())
            yield writer.writerow(self.HEADER)
            for member, group_ids in listing.member_export_rows(church=church, **filters):
                yield writer.writerow(
                    [
                        safe(member.first_name),
                        safe(member.last_name),
                        member.phone,
                        safe(member.email),
                        safe(member.branch.name) if member.branch else "",
                        safe("; ".join(group_names.get(g, "") for g in group_ids)),
                        member.sms_status,
                        member.timezone,
                        member.created_at.date().isoformat(),
                    ]
                )

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{church.slug}-members.csv"'
        return response


# --- Import ---


class MemberImportView(ChurchPageMixin, View):
    roles = {"SAFE": Role.STAFF, "UNSAFE": Role.STAFF}

    def get(self, request):
        return self._render(ImportUploadForm())

    def post(self, request):
        form = ImportUploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                imports.check_upload_size(upload.size)  # before reading a byte of it
                job = imports.member_import_upload(
                    church=request.church, acting_user=request.user, file_name=upload.name, data=upload.read()
                )
            except BusinessRuleError as exc:
                form.add_error("file", exc.message)
            else:
                return redirect("member_import_job", pk=job.pk)
        return self._render(form, status=400)

    def _render(self, form, status=200):
        context = {
            "form": form,
            "jobs": listing.import_job_recent(church=self.request.church),
            "limit_mb": imports.max_upload_bytes() // (1024 * 1024),
            "fields": imports.FIELDS,
        }
        return render(self.request, "churches/members/import.html", context, status=status)


class _ImportJobMixin(ChurchPageMixin):
    model = ImportJob
    roles = {"SAFE": Role.STAFF, "UNSAFE": Role.STAFF}


class MemberImportJobView(_ImportJobMixin, View):
    """Pending: preview with column mapping → start. Queued/running: progress. Done/failed: result."""

    def _start_form(self, job, header, data=None, mapping=None):
        church = self.request.church
        return ImportStartForm(
            data,
            header=header,
            mapping=job.mapping if mapping is None else mapping,
            branches=listing.branch_choices(church=church),
            groups=listing.group_choices(church=church),
            field_choices=list(imports.FIELDS.items()),
        )

    def get(self, request, pk):
        job = self.get_object()
        if job.status != ImportJob.Status.PENDING:
            return self._render_progress(job)
        preview = imports.member_import_preview(job=job)
        return self._render_preview(job, preview, self._start_form(job, preview.header))

    def post(self, request, pk):
        job = self.get_object()
        if job.status != ImportJob.Status.PENDING:
            return redirect("member_import_job", pk=job.pk)
        preview = imports.member_import_preview(job=job)
        form = self._start_form(job, preview.header, data=request.POST)
        if form.is_valid():
            try:
                mapping = form.mapping()
                church = request.church
                group = branch = None
                if form.cleaned_data["group"]:
                    group = listing.group_get(church=church, pk=form.cleaned_data["group"])
                if form.cleaned_data["branch"]:
                    branch = listing.branch_get(church=church, pk=form.cleaned_data["branch"])
                if request.POST.get("preview"):  # "Check again" with the new mapping, without starting
                    preview = imports.member_import_preview(job=job, mapping=mapping)
                    return self._render_preview(job, preview, form)
                imports.member_import_start(
                    church=church,
                    job=job,
                    acting_user=request.user,
                    mapping=mapping,
                    consent_text=form.cleaned_data["consent_text"],
                    group=group,
                    branch=branch,
                )
            except (BusinessRuleError, forms.ValidationError) as exc:
                form.add_error(None, getattr(exc, "message", None) or exc.messages[0])
            else:
                return redirect("member_import_job", pk=job.pk)
        return self._render_preview(job, preview, form, status=400)

    def _render_preview(self, job, preview, form, status=200):
        context = {"job": job, "preview": preview, "form": form, "has_phone": "phone" in preview.mapping}
        return render(self.request, "churches/members/import_preview.html", context, status=status)

    def _render_progress(self, job):
        context = {"job": job, "has_report": job.rejected_count > 0}
        return render(self.request, "churches/members/import_job.html", context)


def _job_status(job: ImportJob) -> dict:
    return {
        "status": job.status,
        "status_label": job.get_status_display(),
        "total": job.total_rows,
        "processed": job.processed_rows,
        "percent": job.percent,
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "rejected": job.rejected_count,
        "finished": job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED),
        "error": job.error_message,
    }


class MemberImportStatusView(_ImportJobMixin, View):
    """Polled by the progress bar (static/js/import_progress.js); skips loading the file's text."""

    def church_queryset(self):
        return ImportJob.objects.defer("content")

    def get(self, request, pk):
        return JsonResponse(_job_status(self.get_object()))


class MemberImportReportView(_ImportJobMixin, View):
    def get(self, request, pk):
        job = self.get_object()

        def lines():
            writer = csv.writer(_Echo())
            for row in imports.member_import_report_rows(job=job):
                yield writer.writerow(row)

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-rejected-rows.csv"'
        return response


class MemberImportRetryView(_ImportJobMixin, View):
    def post(self, request, pk):
        job = self.get_object()
        try:
            imports.member_import_retry(church=request.church, job=job, acting_user=request.user)
        except BusinessRuleError as exc:
            messages.error(request, exc.message)
        return redirect("member_import_job", pk=job.pk)


# --- Branches and groups ---


class BranchListView(ChurchPageMixin, View):
    """Branches with member and group counts (one query); staff add and rename, admins delete."""

    def get(self, request):
        return self._render(BranchForm())

    def post(self, request):
        form = BranchForm(request.POST)
        if form.is_valid():
            try:
                branch = services.branch_create(
                    church=request.church,
                    acting_user=request.user,
                    name=form.cleaned_data["name"],
                    address=form.cleaned_data["address"],
                )
            except BusinessRuleError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, f"Added the branch {branch.name}.")
                return redirect("branch_list")
        return self._render(form, status=400)

    def _render(self, form, status=200):
        context = {
            "branches": selectors.branch_list_with_member_counts(church=self.request.church),
            "form": form,
            "can_edit": Role.at_least(self.request.role, Role.STAFF),
            "can_delete": Role.at_least(self.request.role, Role.ADMIN),
        }
        return render(self.request, "churches/directory/branches.html", context, status=status)


class BranchUpdateView(ChurchPageMixin, View):
    model = Branch
    roles = {"UNSAFE": Role.STAFF}

    def post(self, request, pk):
        branch = self.get_object()
        form = BranchForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Give the branch a name.")
            return redirect("branch_list")
        try:
            services.branch_update(
                church=request.church,
                branch=branch,
                acting_user=request.user,
                name=form.cleaned_data["name"],
                address=form.cleaned_data["address"],
            )
        except BusinessRuleError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Branch saved.")
        return redirect("branch_list")


class BranchDeleteView(ChurchPageMixin, View):
    model = Branch
    roles = {"UNSAFE": Role.ADMIN}

    def post(self, request, pk):
        branch = self.get_object()
        moved = services.branch_delete(church=request.church, branch=branch, acting_user=request.user)
        messages.success(
            request,
            f"Deleted {branch.name}. Its {moved['members']} member(s) and {moved['groups']} group(s) were kept, "
            "now without a branch.",
        )
        return redirect("branch_list")


class GroupListView(ChurchPageMixin, View):
    """Groups with member counts (one query); staff add, admins delete."""

    def _form(self, data=None):
        return GroupForm(data, branches=listing.branch_choices(church=self.request.church))

    def get(self, request):
        return self._render(self._form())

    def post(self, request):
        form = self._form(request.POST)
        if form.is_valid():
            try:
                group = services.group_create(church=request.church, acting_user=request.user, **form.cleaned_data)
            except BusinessRuleError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, f"Added the group {group.name}.")
                return redirect("group_list")
        return self._render(form, status=400)

    def _render(self, form, status=200):
        context = {
            "groups": selectors.group_list_with_member_counts(church=self.request.church),
            "form": form,
            "can_edit": Role.at_least(self.request.role, Role.STAFF),
            "can_delete": Role.at_least(self.request.role, Role.ADMIN),
        }
        return render(self.request, "churches/directory/groups.html", context, status=status)


class GroupDetailView(ChurchPageMixin, View):
    """A group's members (keyset pages), its settings (staff) and removal of members (staff)."""

    model = Group

    def _form(self, group, data=None):
        initial = {
            "name": group.name,
            "description": group.description,
            "branch": group.branch_id,
            "keyword": group.keyword,
        }
        return GroupForm(data, initial=initial, branches=listing.branch_choices(church=self.request.church))

    def get(self, request, pk):
        group = self.get_object()
        return self._render(group, self._form(group))

    def post(self, request, pk):
        group = self.get_object()
        form = self._form(group, request.POST)
        if form.is_valid():
            try:
                services.group_update(church=request.church, group=group, acting_user=request.user, **form.cleaned_data)
            except BusinessRuleError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, "Group saved.")
                return redirect("group_detail", pk=group.pk)
        return self._render(group, form, status=400)

    def _render(self, group, form, status=200):
        church = self.request.church
        page = listing.member_page(
            church=church,
            group_id=group.pk,
            after=self.request.GET.get("after", ""),
            before=self.request.GET.get("before", ""),
            size=listing.MEMBER_PAGE_SIZE,
        )
        groups = listing.group_choices(church=church)
        group_ids = selectors.member_group_ids(church=church, member_ids=[m.pk for m in page.members])
        context = {
            "group": group,
            "form": form,
            "page": page,
            "rows": _member_rows(church, page.members, group_ids, dict(groups)),
            "can_edit": Role.at_least(self.request.role, Role.STAFF),
            "can_delete": Role.at_least(self.request.role, Role.ADMIN),
        }
        return render(self.request, "churches/directory/group_detail.html", context, status=status)


class GroupDeleteView(ChurchPageMixin, View):
    model = Group
    roles = {"UNSAFE": Role.ADMIN}

    def post(self, request, pk):
        group = self.get_object()
        removed = services.group_delete(church=request.church, group=group, acting_user=request.user)
        messages.success(request, f"Deleted the group {group.name}. Its {removed} member(s) were kept.")
        return redirect("group_list")
