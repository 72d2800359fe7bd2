"""docs/api.md stays true: its table of operations and scopes is the URL map's, and it describes every
scope of the catalogue."""

import pathlib
import re

from koinonia.api import scopes
from koinonia.tenancy import required_role
from tests.koinonia.api_routes import api_endpoints

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "api.md"
ROW = re.compile(r"^\| `(GET|POST|PATCH|PUT|DELETE) (/[^`]*)` \| ((?:`[a-z_]+:[a-z]+`(?:, )?)+) \| (\w+) \|$")
_PARAM = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def documented_path(route: str) -> str:
    path = route.removeprefix("api/v1/").replace("^", "").replace("$", "").replace("/?", "")
    return "/" + _PARAM.sub(lambda m: "{" + ("id" if m.group(1) == "pk" else m.group(1)) + "}", path)


def test_the_scope_table_is_the_url_map():
    text = DOC.read_text()
    documented = {
        (m.group(1), m.group(2)): (tuple(s.strip("`") for s in m.group(3).split(", ")), m.group(4))
        for m in map(ROW.match, text.splitlines())
        if m
    }
    actual = {
        (e.method, documented_path(e.route)): (
            e.required_scopes(),
            required_role(getattr(e.view(), "roles", {}), e.method),
        )
        for e in api_endpoints()
    }
    missing = sorted(set(actual) - set(documented))
    stale = sorted(set(documented) - set(actual))
    wrong = sorted(k for k in set(actual) & set(documented) if actual[k] != documented[k])
    assert not missing, f"operations missing from docs/api.md's scope table: {missing}"
    assert not stale, f"operations in docs/api.md that the API does not have: {stale}"
    assert not wrong, [(k, "docs:", documented[k], "code:", actual[k]) for k in wrong]


def test_every_scope_is_described():
    text = DOC.read_text()
    for name in scopes.SCOPES:
        assert f"| `{name}` |" in text, name


def test_the_readme_links_the_api_doc():
    readme = (DOC.parents[1] / "README.md").read_text()
    assert "docs/api.md" in readme
