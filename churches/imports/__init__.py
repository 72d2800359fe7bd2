"""CSV import of members: upload → column mapping (guessed from the headers) → preview → a set-based
run in the background, with progress, counts and a report of every rejected row.

The run is resumable and idempotent. The file's text lives in the ImportJob row (encrypted: it is a
phone book) until the run is done; then only the header and the rejected rows are kept, encrypted,
for the report, until ``IMPORT_REPORT_RETENTION_DAYS`` have passed. Rows are applied in
chunks, each in one transaction that also advances ``processed_rows`` and the counts, so a worker that
dies mid-way leaves a consistent job that the next run continues. Re-importing the same file changes
nothing: existing members are matched by the phone's blind index and only changed fields are written.

Members are written by the same engine as the API's bulk upsert (``churches/services/upsert.py``),
consent by the one consent writer (``churches/services/consent.py``): the rules live there.

Cost model for a 50k-row file: phone parsing (libphonenumber, pure Python) dominates; the database
work is a handful of statements per 2,000-row chunk (the engine's, plus the progress and the rejected
rows).

The package, lowest first: ``reading`` (file, mapping, phones), ``plan`` (rows → member fields),
``retention`` (the run's lease, how long details are kept, the purge), ``run`` (the chunked run; tune
``churches.imports.run.CHUNK_ROWS``), ``jobs`` (upload, preview, start, retry, report; start and retry
enqueue ``churches.tasks.member_import_run_task``, which calls ``run``). Everything is importable as
``churches.imports.X``.
"""

from churches.imports.jobs import (
    PREVIEW_ROWS,
    Preview,
    PreviewRow,
    member_import_preview,
    member_import_report_rows,
    member_import_retry,
    member_import_start,
    member_import_upload,
    spreadsheet_safe,
)
from churches.imports.reading import (
    DEFAULT_MAX_BYTES,
    FIELDS,
    HEADER_SYNONYMS,
    REASON_DUPLICATE,
    REASON_NO_PHONE,
    REASON_TOO_MANY_CELLS,
    SAVE_AS_UTF8,
    PhoneReader,
    check_upload_size,
    clean_mapping,
    decode_csv_bytes,
    guess_mapping,
    max_upload_bytes,
    read_rows,
)
from churches.imports.retention import FILE_DISCARDED, LEASE, member_import_purge_expired, report_retention
from churches.imports.run import CHUNK_ROWS, member_import_run
from churches.services.upsert import REASON_OPTED_OUT, REASON_OVER_LIMIT

__all__ = [
    "CHUNK_ROWS",
    "DEFAULT_MAX_BYTES",
    "FIELDS",
    "FILE_DISCARDED",
    "HEADER_SYNONYMS",
    "LEASE",
    "PREVIEW_ROWS",
    "REASON_DUPLICATE",
    "REASON_NO_PHONE",
    "REASON_OPTED_OUT",
    "REASON_OVER_LIMIT",
    "REASON_TOO_MANY_CELLS",
    "SAVE_AS_UTF8",
    "PhoneReader",
    "Preview",
    "PreviewRow",
    "check_upload_size",
    "clean_mapping",
    "decode_csv_bytes",
    "guess_mapping",
    "max_upload_bytes",
    "member_import_preview",
    "member_import_purge_expired",
    "member_import_report_rows",
    "member_import_retry",
    "member_import_run",
    "member_import_start",
    "member_import_upload",
    "read_rows",
    "report_retention",
    "spreadsheet_safe",
]
