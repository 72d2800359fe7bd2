"""Groups: list with counts, add, detail (members, settings), delete."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views import View

from churches import listing, selectors, services
from churches.forms import (
    GroupForm,
)
from churches.models import Group, Role
from churches.views.directory import ListWithAddFormView
from churches.views.members import member_rows
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import ChurchPageMixin


class GroupListView(ListWithAddFormView):
    """Groups with member counts (one query); staff add, admins delete."""

    template_name = "churches/directory/groups.html"
    rows_name = "groups"
    success_url = "group_list"

    def form(self, data=None):
        return GroupForm(data, branches=listing.branch_choices(church=self.request.church))

    def rows(self):
        return selectors.group_list_with_member_counts(church=self.request.church)

    def create(self, data):
        return services.group_create(church=self.request.church, acting_user=self.request.user, **data)

    def added_message(self, created):
        return f"Added the group {created.name}."


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
            "rows": member_rows(church, page.members, group_ids, dict(groups)),
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
