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
    ("churches/views/accounts.py", "User.objects.filter(email__iexact=invitation.email)"),
}


APPS = ("koinonia", "churches", "messaging", "conversations", "billing")


def view_and_api_modules() -> list[pathlib.Path]:
    """Every ``views.py`` / ``api.py`` of the apps, at any depth, and every module of a ``views/`` or
    ``api/`` package (a split module must not escape the rule by moving into a package)."""
    found = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            if path.name in ("views.py", "api.py") or path.parent.name in ("views", "api"):
                found.add(path)
    return sorted(found)


def test_the_lint_sees_split_packages():
    modules = {str(path.relative_to(ROOT)) for path in view_and_api_modules()}
    assert {"churches/views/members.py", "koinonia/api/base.py", "conversations/views.py"} <= modules


def test_views_and_api_modules_never_query_models_directly():
    """Views and API classes go through selectors, services or the scoped base classes."""
    offenders = []
    for path in view_and_api_modules():
        rel = str(path.relative_to(ROOT))
        for line in path.read_text().splitlines():
            if UNSCOPED.search(line) and not any(rel == f and snippet in line for f, snippet in ALLOWED):
                offenders.append(f"{rel}: {line.strip()}")
    assert not offenders, "Unscoped model access in views/api:\n" + "\n".join(offenders)
