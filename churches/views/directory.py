"""What the directory's list pages (branches, groups) share: the list and an add form on one page."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views import View

from churches.models import Role
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import ChurchPageMixin


class ListWithAddFormView(ChurchPageMixin, View):
    """Rows (``rows()``, under ``rows_name`` in the template) with an add form: staff add, admins delete.
    A refused add shows the page again, status 400, with the service's reason on the form."""

    template_name: str
    rows_name: str
    success_url: str  # URL name, once added

    def form(self, data=None):
        raise NotImplementedError

    def rows(self):
        raise NotImplementedError

    def create(self, data: dict):
        """Add one from the form's cleaned data; BusinessRuleError refuses it."""
        raise NotImplementedError

    def added_message(self, created) -> str:
        raise NotImplementedError

    def get(self, request):
        return self._render(self.form())

    def post(self, request):
        form = self.form(request.POST)
        if form.is_valid():
            try:
                created = self.create(form.cleaned_data)
            except BusinessRuleError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, self.added_message(created))
                return redirect(self.success_url)
        return self._render(form, status=400)

    def _render(self, form, status=200):
        context = {
            self.rows_name: self.rows(),
            "form": form,
            "can_edit": Role.at_least(self.request.role, Role.STAFF),
            "can_delete": Role.at_least(self.request.role, Role.ADMIN),
        }
        return render(self.request, self.template_name, context, status=status)
