import pathlib
import re

import pytest

from koinonia.api.base import ChurchViewSet
from koinonia.tenancy import ChurchPageMixin

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_overriding_get_queryset_is_refused_at_class_creation():
    with pytest.raises(TypeError, match="church_queryset"):

        class LeakyViewSet(ChurchViewSet):
            def get_queryset(self):
                return None

    with pytest.raises(TypeError):

        class LeakyPage(ChurchPageMixin):
            def get_queryset(self):
                return None


UNSCOPED = re.compile(r"\b[A-Z]\w+\.objects\.(get|filter|exclude|all|raw)\(")
ALLOWED = {
    # Sign-in and invitation pages run before there is a church to scope to.
    ("churches/views.py", "User.objects.filter(email__iexact=invitation.email)"),
}


def test_views_and_api_modules_never_query_models_directly():
    """Views and API classes go through selectors, services or the scoped base classes."""
    offenders = []
    for path in list(ROOT.glob("*/views.py")) + list(ROOT.glob("*/api.py")) + list(ROOT.glob("*/views/*.py")):
        rel = str(path.relative_to(ROOT))
        for line in path.read_text().splitlines():
            if UNSCOPED.search(line) and not any(rel == f and snippet in line for f, snippet in ALLOWED):
                offenders.append(f"{rel}: {line.strip()}")
    assert not offenders, "Unscoped model access in views/api:\n" + "\n".join(offenders)
