"""Settings → Team: staff, their roles, and invitations."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views import View

from churches import listing, selectors, services
from churches.forms import (
    InviteForm,
    RoleForm,
)
from churches.models import Role
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import ChurchPageMixin


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
        branches = listing.branch_choices(church=church)
        names = dict(branches)
        team = list(selectors.team_list(church=church))
        for membership in team:
            membership.limit_ids = set(membership.branch_ids)
            membership.limit_names = [names[pk] for pk in membership.branch_ids if pk in names]
        context = {
            "team": team,
            "invitations": selectors.pending_invitation_list(church=church),
            "invite_form": invite_form,
            "roles": Role.choices,
            "branches": branches,
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


class TeamMemberBranchesView(ChurchPageMixin, View):
    """Limit a staff member to some branches (none ticked: the whole church)."""

    roles = {"UNSAFE": Role.ADMIN}

    def post(self, request, pk):
        try:
            branch_ids = [int(value) for value in request.POST.getlist("branches")]
        except ValueError:
            messages.error(request, "Choose branches from the list.")
            return redirect("team")
        try:
            membership = services.staff_set_branches(
                church=request.church, acting_user=request.user, membership_id=pk, branch_ids=branch_ids
            )
        except BusinessRuleError as exc:
            if exc.status == 404:
                raise Http404("Not found.") from None
            messages.error(request, exc.message)
        else:
            names = ", ".join(
                name for pk, name in listing.branch_choices(church=request.church) if pk in membership.branch_ids
            )
            messages.success(request, f"{membership.user.get_full_name()} now sees {names or 'the whole church'}.")
        return redirect("team")
