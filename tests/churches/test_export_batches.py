"""The member export and the import report read in keyset batches (no ``iterator()``: PgBouncer's
transaction pooling can't keep a server-side cursor between transactions). Batches of 2 here, so every
boundary case — ties on the sort columns, an exact multiple, a remainder — crosses a batch edge."""

import pytest

from churches import imports, listing
from churches.imports import jobs
from churches.models import ImportJob, ImportRejectedRow
from tests.factories import MemberFactory


@pytest.mark.parametrize("sort", ["name", "-name", "created", "-created"])
def test_export_rows_are_the_list_order_in_any_batch_size(world, other_world, sort):
    for last, first in [("Miller", "Ruth"), ("Miller", "Ruth"), ("Miller", "Boaz"), ("Abbott", "Ann"), ("Zed", "Al")]:
        MemberFactory(church=world.church, last_name=last, first_name=first)
    MemberFactory(church=other_world.church, last_name="Miller", first_name="Naomi")
    expected = [m.pk for m in listing.member_page(church=world.church, sort=sort, size=100).members]
    assert len(expected) == 5
    for batch_size in (1, 2, 5, 100):
        rows = listing.member_export_rows(church=world.church, sort=sort, batch_size=batch_size)
        assert [member.pk for member, _ in rows] == expected, batch_size


def test_import_report_crosses_batches_in_row_order(world, monkeypatch):
    monkeypatch.setattr(jobs, "_REPORT_BATCH", 2)
    job = ImportJob.objects.create(church=world.church, status="done", report_header=["Mobile"])
    for row_number in (7, 3, 5, 2, 11):
        ImportRejectedRow.objects.create(
            church=world.church, job=job, row_number=row_number, reason=f"bad {row_number}", cells=[str(row_number)]
        )
    rows = list(imports.member_import_report_rows(job=job))
    assert rows[0] == ["Row", "Reason", "Mobile"]
    assert rows[1:] == [[str(n), f"bad {n}", str(n)] for n in (2, 3, 5, 7, 11)]
