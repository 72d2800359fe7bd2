import pathlib
import subprocess
import sys
import textwrap

import pytest

from koinonia.api.base import ChurchViewSet
from koinonia.lint import tenancy_check
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


def test_the_checker_finds_a_planted_offender():
    """A fixture module with one unscoped query and the scoped forms the rules accept."""
    source = textwrap.dedent(
        """
        from churches.models import Member as M, Group
        from messaging.models import Message, Recipient

        def leaky(pk):
            return M.objects.select_related("branch").get(pk=pk)

        def excluded_is_not_scoped(church):
            return Group.objects.exclude(church=church).count()

        def by_outside_id(message_id):
            return Recipient.objects.filter(message_id=message_id).count()

        def by_church_name(name):
            return M.objects.filter(church__name=name).count()

        def scoped(church, pk, message, job):
            a = M.objects.for_church(church).get(pk=pk)
            b = Group.objects.filter(church=church, pk=pk).first()
            c = Recipient.objects.filter(message=message).count()
            d = Recipient.objects.filter(message_id=message.pk).count()
            e = Message.objects.select_for_update().get(pk=job.pk)
            return a, b, c, d, e

        def handed(church, pk):
            return member_get(church=church, id=pk, queryset=M.objects.select_for_update())

        def handed_without_church(pk):
            return member_get(id=pk, queryset=M.objects.select_for_update())

        class Page:
            def church_queryset(self):
                return Group.objects.select_related("branch")
        """
    )
    report = tenancy_check.check_source(source, "churches/planted.py", allow={})
    found = [(o.line, o.model, o.method) for o in report.offenders]
    assert found == [
        (6, "Member", "select_related"),
        (9, "Group", "exclude"),
        (12, "Recipient", "filter"),
        (15, "Member", "filter"),
        (29, "Member", "select_for_update"),
    ]
    assert str(report.offenders[0]) == (
        "churches/planted.py:6: Member.objects.select_related — no church scope (use Model.objects.for_church(church))"
    )


def test_the_allow_list_covers_a_function_and_reports_stale_entries():
    source = "from messaging.models import Message\n\ndef sweep():\n    return Message.objects.filter(status='x')\n"
    allow = {("messaging/x.py", "sweep", "Message"): "beat", ("messaging/x.py", "gone", "Message"): "old"}
    report = tenancy_check.check_source(source, "messaging/x.py", allow=allow)
    assert report.offenders == []
    assert report.allowed == [("messaging/x.py", 4, "Message", "filter", "beat")]
    assert report.unused_allow == [("messaging/x.py", "gone", "Message")]


def test_church_owned_models_are_found_by_introspection():
    owned = tenancy_check.church_owned_models()
    assert {"Member", "Group", "Branch", "Message", "Recipient", "Conversation", "CannedReply", "ApiKey"} <= set(owned)
    assert "message" in owned["Recipient"]["fks"]
    assert "Church" not in owned and "User" not in owned


def test_every_query_of_a_church_owned_table_is_scoped():
    """The AST check over every module of the five apps (see koinonia/lint/tenancy_check.py for the rules)."""
    report = tenancy_check.check_project()
    problems = [str(o) for o in report.offenders] + [f"stale allow-list entry: {k}" for k in report.unused_allow]
    assert not problems, "Unscoped queries of church-owned tables:\n" + "\n".join(problems)
    assert report.allowed, "the allow-list is in use (webhooks, sweepers)"


def test_the_checker_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "koinonia.lint.tenancy_check"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"allow-list has {len(tenancy_check.ALLOW)} entries" in result.stdout


def test_the_checker_reads_every_module_of_the_apps():
    modules = {str(path.relative_to(ROOT)) for path in tenancy_check.app_modules()}
    assert {"churches/views/members.py", "koinonia/api/base.py", "messaging/numbers/tendlc/status.py"} <= modules
    assert not any("/migrations/" in m for m in modules)
