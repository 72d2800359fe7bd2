"""The member CSV export, shared by the page (``/members/export.csv``) and the API
(``GET /api/v1/members/export?format=csv``): one header, one row shape, streamed. Members are read in
keyset chunks, their groups one query per chunk, so a church of any size exports in a fixed number of
queries per chunk and never holds the whole directory in memory."""

import csv
from collections.abc import Iterator

from churches import imports, listing
from churches.models import Church

HEADER = ["First Name", "Last Name", "Mobile", "Email", "Branch", "Groups", "SMS Status", "Time Zone", "Added"]
CHUNK_SIZE = 2000


class _Echo:
    """A file-like object whose write() hands the line back, for streaming csv.writer output."""

    def write(self, value):
        return value


def member_export_lines(*, church: Church, filters: dict, chunk_size: int = CHUNK_SIZE) -> Iterator[str]:
    """CSV lines (the header first) of the members matching ``filters`` (``q``, ``branch_id``,
    ``group_id``, ``sms_status``, ``sort``), as the member list filters them. Cells that a spreadsheet
    would run as a formula are neutralised."""
    writer = csv.writer(_Echo())
    safe = imports.spreadsheet_safe
    group_names = dict(listing.group_choices(church=church))
    yield writer.writerow(HEADER)
    for member, group_ids in listing.member_export_rows(church=church, batch_size=chunk_size, **filters):
        yield writer.writerow(
            [
                safe(member.first_name),
                safe(member.last_name),
                member.phone,
                safe(member.email),
                safe(member.branch.name) if member.branch else "",
                safe("; ".join(group_names.get(g, "") for g in group_ids)),
                member.sms_status,
                member.timezone,
                member.created_at.date().isoformat(),
            ]
        )
