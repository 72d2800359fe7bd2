"""The member directory: list (search, filters, keyset pages), bulk actions, add, detail with consent
history, delete, and the CSV export."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from churches import listing, member_export, selectors, services
from churches.forms import (
    BulkMemberForm,
    ConsentForm,
    MemberCreateForm,
    MemberFilterForm,
    MemberForm,
)
from churches.models import ConsentEvent, Member, Role, SmsStatus
from churches.phones import format_phone_for_display
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import ChurchPageMixin

STATUS_BADGES = {SmsStatus.SUBSCRIBED: "badge-ok", SmsStatus.UNSUBSCRIBED: "badge-bad", SmsStatus.NEVER_CONSENTED: ""}


class Echo:
    """A file-like object whose write() hands the line back, for streaming csv.writer output."""

    def write(self, value):
        return value


def member_rows(church, members, group_ids: dict[int, list[int]], group_names: dict[int, str]):
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
            "rows": member_rows(church, page.members, group_ids, dict(groups)),
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
        group = selectors.group_get(church=church, id=form.cleaned_data["group"])
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
                    language=data["language"],
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
            "language": member.language,
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
                    language=data["language"],
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
    HEADER = member_export.HEADER

    def get(self, request):
        church = request.church
        form = MemberFilterForm(
            request.GET or None,
            branches=listing.branch_choices(church=church),
            groups=listing.group_choices(church=church),
        )
        filters = form.filters()
        services.audit_record(
            church=church,
            actor=request.user,
            action="members.exported",
            data={key: value for key, value in filters.items() if value and key != "q"},
        )
        lines = member_export.member_export_lines(church=church, filters=filters)
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{church.slug}-members.csv"'
        return response
