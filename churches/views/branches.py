"""Branches: list with counts, add, rename, delete."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views import View

from churches import selectors, services
from churches.forms import (
    BranchForm,
)
from churches.models import Branch, Role
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import ChurchPageMixin


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
