"""Smoke test of the data-volume benchmark (bench/scenarios/data_volume_10k.py) at a tiny scale, in the
test database: its set-based seeding still matches the schema, the pages it measures answer, and the
plans name the tables scanned. PostgreSQL only (the seeding is PostgreSQL SQL)."""

import pytest
from django.db import connection

from bench import volume_seed
from bench.scenarios import data_volume_10k

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the benchmark seeds with PostgreSQL SQL"),
]


def test_tiny_volume_seeds_the_shape_and_measures_every_page():
    shape = volume_seed.Shape.at(0.0004, big_members=30)  # 4 churches: the two measured and two fillers
    volume_seed.seed(shape, with_filler=True)

    found = volume_seed.counts()
    assert found["churches"] == shape.churches
    assert found["members"] == volume_seed.SMALL_MEMBERS + 30 + 2 * shape.members_per_filler
    assert found["recipients"] == shape.recipients == volume_seed.MESSAGES * found["members"]
    assert found["conversation_messages"] == 2 * found["conversations"] > 0

    (small, owner), (big, _) = data_volume_10k._measured_churches()
    assert small.slug == "bench-volume-small" and big.slug == "bench-volume-big"
    results = data_volume_10k.measure(small, owner, requests=2, explain=True)
    assert set(results) == {"member list", "message list", "message detail", "dashboard", "inbox", "API member list"}
    for name, stats in results.items():
        assert stats["queries"] > 0 and stats["p95_ms"] > 0, name
    assert any("messaging_recipient" in line for line in results["message detail"]["plan_relations"])
    assert any("churches_member" in line for line in results["member list"]["plan_relations"])
