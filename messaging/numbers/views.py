"""Settings → Numbers: the church's texting numbers with their health, and (owners and admins) search by
area code, order, and run the phone-linking check on one number now. Writes go through
``messaging.numbers.ordering`` and ``messaging.numbers.linking``."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views import View

from churches.models import Role
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import ChurchPageMixin
from messaging.numbers import linking, selectors
from messaging.numbers import ordering as numbers
from messaging.numbers.forms import NumberOrderForm, NumberSearchForm
from messaging.numbers.models import NumberCheck, SenderNumber

# Everyone on the team may see the numbers and their problems; buying and repairing is for admins.
NUMBER_ROLES = {"SAFE": Role.VIEWER, "UNSAFE": Role.ADMIN}


class NumbersView(ChurchPageMixin, View):
    roles = NUMBER_ROLES

    def get(self, request):
        can_manage = Role.at_least(request.role, Role.ADMIN)
        form, results, status = NumberSearchForm(), None, 200
        if can_manage and "area_code" in request.GET:
            form = NumberSearchForm(request.GET)
            if form.is_valid():
                try:
                    results = numbers.number_search(church=request.church, area_code=form.cleaned_data["area_code"])
                except BusinessRuleError as exc:
                    form.add_error("area_code", exc.message)
            if form.errors:
                status = 400
        return self._render(search_form=form, results=results, status=status)

    def post(self, request):
        form = NumberOrderForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose a number from the search results.")
            return redirect("numbers")
        try:
            number = numbers.number_order(
                church=request.church, phone_number=form.cleaned_data["phone_number"], acting_user=request.user
            )
        except BusinessRuleError as exc:
            return self._render(search_form=NumberSearchForm(), order_error=exc.message, status=exc.status)
        if number.status == SenderNumber.Status.PENDING:
            messages.success(request, f"Ordered {number.phone_number}. It will be ready in a minute or so.")
        else:
            messages.success(request, f"{number.phone_number} is yours and ready to send texts.")
        return redirect("numbers")

    def _render(self, *, search_form, results=None, order_error="", status=200):
        context = {
            "numbers": selectors.sender_number_list(church=self.request.church),
            "search_form": search_form,
            "results": results,
            "order_error": order_error,
            "can_manage": Role.at_least(self.request.role, Role.ADMIN),
            "outcomes": NumberCheck.Outcome,
        }
        return render(self.request, "messaging/numbers.html", context, status=status)


class NumberCheckView(ChurchPageMixin, View):
    """Run phone-linking recovery on one number now."""

    roles = NUMBER_ROLES
    model = SenderNumber

    def post(self, request, pk):
        number = self.get_object()  # another church's number: 404
        check = linking.sender_number_check(sender_id=number.pk, acting_user=request.user)
        if check is None:
            messages.error(request, f"{number.phone_number} has been released; there is nothing to check.")
        elif check.outcome == NumberCheck.Outcome.OK:
            messages.success(request, f"{number.phone_number} is set up correctly.")
        elif check.outcome == NumberCheck.Outcome.REPAIRED:
            messages.success(request, f"Fixed {number.phone_number}: " + " ".join(check.repairs))
        else:
            messages.error(request, f"{number.phone_number} needs attention: {check.error}")
        return redirect("numbers")
