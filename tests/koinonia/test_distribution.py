"""Citus-ready keys: every table is distributed by church, a reference table or a local table, and its
keys fit (koinonia/distribution.py; docs/scaling.md, "Distribution (Citus-ready)")."""

# ruff: noqa: DJ008 (throwaway models in an isolated registry)
import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import models
from django.db.models.functions import Lower
from django.test.utils import isolate_apps

from koinonia import distribution
from tests.factories import BranchFactory, ChurchFactory, MemberFactory

# Distributed tables whose keys the partitioning work (issue 13, "History that stays small") changes:
# it adds church to ProviderEvent and to Recipient's (message, member) unique constraint. Strict: the
# day that lands, these pass, the test fails, and the entry must go.
PENDING_PARTITIONING = {
    "messaging.Recipient": "unique (message, member) lacks church: the partitioning work re-keys it",
    "messaging.ProviderEvent": "no church yet: the partitioning work adds it",
}


def _cases():
    for model in distribution.table_models():
        name = distribution.label(model)
        marks = []
        if name in PENDING_PARTITIONING:
            marks.append(pytest.mark.xfail(reason=PENDING_PARTITIONING[name], strict=True))
        yield pytest.param(model, id=name, marks=marks)


@pytest.mark.parametrize("model", list(_cases()))
def test_every_table_is_distributed_by_church_or_declared(model):
    assert distribution.problems(model) == []


def test_declarations_name_real_tables():
    """A declaration for a model that no longer exists (or is misspelled) would hide nothing but lie."""
    labels = {distribution.label(model) for model in distribution.table_models()}
    app_labels = {config.label for config in apps.get_app_configs()}
    for name in [*distribution.REFERENCE_TABLES, *distribution.LOCAL_TABLES, *distribution.PARTITIONED_TABLES]:
        app_label, _, model_name = name.partition(".")
        assert (name in labels) if model_name != "*" else (app_label in app_labels), name
    assert not set(distribution.REFERENCE_TABLES) & set(distribution.LOCAL_TABLES)
    assert set(PENDING_PARTITIONING) <= distribution.PARTITIONED_TABLES


def test_partitioned_tables_follow_the_distributed_rules():
    for name in distribution.PARTITIONED_TABLES:
        assert distribution.kind(apps.get_model(name)) == distribution.DISTRIBUTED


def test_the_tables_the_product_looks_up_without_a_church_are_reference_tables():
    """Sign-in, API keys, invitation links, inbound numbers and Stripe customers keep global unique keys
    because they are found before the church is known; that is only safe on a replicated table."""
    for name in ("churches.User", "churches.ApiKey", "churches.Invitation", "messaging.SenderNumber"):
        assert distribution.kind(apps.get_model(name)) == distribution.REFERENCE
    assert distribution.kind(apps.get_model("churches.AuditLog")) == distribution.DISTRIBUTED
    assert not apps.get_model("churches.AuditLog")._meta.get_field("church").null


@isolate_apps("tests")
def test_the_rules_catch_each_kind_of_offender():
    church_model = apps.get_model(distribution.CHURCH_MODEL)

    class Loose(models.Model):  # no church, not declared
        name = models.CharField(max_length=10)

        class Meta:
            app_label = "tests"

    class Parent(models.Model):
        church = models.ForeignKey(church_model, on_delete=models.CASCADE, related_name="+")

        class Meta:
            app_label = "tests"

    class GlobalUnique(models.Model):
        church = models.ForeignKey(church_model, null=True, on_delete=models.CASCADE, related_name="+")
        code = models.CharField(max_length=10, unique=True)
        parent = models.ForeignKey(Parent, on_delete=models.CASCADE, related_name="+")
        loose = models.ForeignKey(Loose, on_delete=models.CASCADE, related_name="+")

        class Meta:
            app_label = "tests"
            unique_together = [("code", "parent")]
            constraints = [
                models.UniqueConstraint(Lower("code"), name="globalunique_ci"),
                models.UniqueConstraint("church", Lower("code"), name="globalunique_church_ci"),
            ]

    found = "\n".join(distribution.problems(GlobalUnique))
    assert "church: must be a NOT NULL" in found
    assert "unique field code" in found
    assert "unique_together ('code', 'parent')" in found
    assert "globalunique_ci does not" in found
    assert "globalunique_church_ci" not in found  # the expression form with church leading is fine
    assert "loose: points at tests.Loose" in found
    assert "GlobalUnique.parent:" not in found  # distributed -> distributed: colocated by church
    assert "not declared" in distribution.problems(Loose)[0]
    assert distribution.problems(Parent) == []


@isolate_apps("tests")
def test_a_reference_table_may_point_only_at_reference_tables(monkeypatch):
    church_model = apps.get_model(distribution.CHURCH_MODEL)

    class Tenant(models.Model):
        church = models.ForeignKey(church_model, on_delete=models.CASCADE, related_name="+")

        class Meta:
            app_label = "tests"

    class Lookup(models.Model):
        church = models.ForeignKey(church_model, on_delete=models.CASCADE, related_name="+")
        tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
        token = models.CharField(max_length=10, unique=True)

        class Meta:
            app_label = "tests"

    monkeypatch.setitem(distribution.REFERENCE_TABLES, "tests.Lookup", "test")
    expected = "tests.Lookup.tenant: a reference table points at tests.Tenant (distributed)"
    assert distribution.problems(Lookup) == [expected]


@pytest.mark.django_db
def test_colocation_check_finds_a_row_whose_parent_is_another_churchs():
    church, other = ChurchFactory(), ChurchFactory()
    member = MemberFactory(church=church, branch=BranchFactory(church=church))
    assert distribution.colocation_violations() == {}
    member.branch = BranchFactory(church=other)  # what a composite (church, branch) key would refuse
    member.save(update_fields=["branch"])
    assert distribution.colocation_violations() == {"churches.Member.branch -> churches.Branch": 1}
    with pytest.raises(SystemExit):
        call_command("check_distribution")


@pytest.mark.django_db
def test_check_distribution_command_passes_on_a_clean_database(capsys):
    MemberFactory(church=ChurchFactory())
    call_command("check_distribution")
    assert "no cross-church" in capsys.readouterr().out
