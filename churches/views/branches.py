"""Branches: list with counts, add, rename, delete."""

from django.contrib import messages
from django.shortcuts import redirect
from django.views import View

from churches import selectors, services
from churches.forms import (
    BranchForm,
)
from churches.models import Branch, Role
from churches.views.directory import ListWithAddFormView
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import ChurchPageMixin


class BranchListView(ListWithAddFormView):
    """Branches with member and group counts (one query); staff add and rename, admins delete."""

    template_name = "churches/directory/branches.html"
    rows_name = "branches"
    success_url = "branch_list"

    def form(self, data=None):
        return BranchForm(data)

    def rows(self):
        return selectors.branch_list_with_member_counts(church=self.request.church)

    def create(self, data):
        return services.branch_create(
            church=self.request.church, acting_user=self.request.user, name=data["name"], address=data["address"]
        )

    def added_message(self, created):
        return f"Added the branch {created.name}."


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
