"""CSV import of members: upload → column mapping (guessed from the headers) → preview → a set-based
run in the background, with progress, counts and a report of every rejected row.

The run is resumable and idempotent. The file's text lives in the ImportJob row (encrypted: it is a
phone book) until the run is done; then only the header and the rejected rows are kept, encrypted,
for the report, until ``IMPORT_REPORT_RETENTION_DAYS`` have passed. Rows are applied in
chunks, each in one transaction that also advances ``processed_rows`` and the counts, so a worker that
dies mid-way leaves a consistent job that the next run continues. Re-importing the same file changes
nothing: existing members are matched by the phone's blind index and only changed fields are written.

Cost model for a 50k-row file: phone parsing (libphonenumber, pure Python) dominates; the database
work is a handful of statements per 2,000-row chunk (one lookup of existing members, one multi-row
INSERT of members, one of group memberships, one of consent events, at most one UPDATE).
"""

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone
from phonenumbers import PhoneNumberFormat
from phonenumbers import timezone as phone_timezone
from phonenumbers.phonenumberutil import is_number_type_geographical
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from churches.crypto import email_local_hash, phone_hash
from churches.models import (
    Branch,
    Church,
    ConsentEvent,
    Group,
    GroupMembership,
    ImportJob,
    ImportRejectedRow,
    Member,
    SmsStatus,
    User,
)
from churches.phones import TEXTABLE_TYPES, InvalidPhone, parse_phone
from churches.signals import announce_members_subscribed
from koinonia.exceptions import BusinessRuleError
from koinonia.hooks import check_limit

CHUNK_ROWS = 2000
PREVIEW_ROWS = 10
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# A run that has shown no sign of life for this long is presumed dead; another worker may take over.
LEASE = timedelta(minutes=2)

FIELDS = {
    "phone": "Mobile phone",
    "first_name": "First name",
    "last_name": "Last name",
    "full_name": "Full name",
    "email": "Email",
    "groups": "Groups",
    "branch": "Branch",
}

# Header spellings seen in church management exports, normalized (lowercase letters and digits only).
# Earlier entries win when a file has several candidates (a "Mobile" column beats a "Home Phone").
HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "phone": (
        "mobile",
        "mobilephone",
        "mobilenumber",
        "mobileno",
        "cell",
        "cellphone",
        "cellnumber",
        "cellular",
        "sms",
        "smsnumber",
        "textnumber",
        "phone",
        "phonenumber",
        "phoneno",
        "primaryphone",
        "telephone",
        "tel",
        "homephone",
    ),
    "first_name": ("firstname", "first", "givenname", "fname", "forename", "preferredname", "nickname"),
    "last_name": ("lastname", "last", "surname", "familyname", "lname"),
    "full_name": ("name", "fullname", "membername", "displayname", "contactname", "person"),
    "email": ("email", "emailaddress", "mail", "primaryemail", "homeemail"),
    "groups": ("group", "groups", "groupname", "ministry", "ministries", "smallgroup", "lists", "list", "tags"),
    "branch": ("branch", "campus", "location", "site", "congregation", "branchname", "campusname"),
}

REASON_DUPLICATE = "Same phone number as row {row}, which is imported instead."
REASON_OPTED_OUT = "This member opted out of texts and stays opted out; only they can opt back in, by texting START."
REASON_OVER_LIMIT = "Over the plan's member limit: {detail}"
REASON_TOO_MANY_CELLS = (
    "This row has more cells than the header has columns (a comma inside a name? Put quotes around it)."
)
REASON_NO_PHONE = "No phone number in this row."


def max_upload_bytes() -> int:
    return getattr(settings, "MEMBER_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES)


def _human_size(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{max(1, round(size / 1024))} KB"


def check_upload_size(size: int) -> None:
    """Refuse a file over the limit — callers check ``upload.size`` before reading it."""
    limit = max_upload_bytes()
    if size > limit:
        raise BusinessRuleError(
            f"This file is {_human_size(size)}; the limit is {_human_size(limit)}. "
            "Split it into smaller files and import them one after another.",
            field="file",
            code="file_too_large",
            status=413,
        )


# --- Reading the file -----------------------------------------------------------------------------

SAVE_AS_UTF8 = "In Excel or Numbers choose File → Save As → “CSV UTF-8 (Comma delimited)”, then upload that file."


def decode_csv_bytes(data: bytes) -> str:
    """The file's text, or BusinessRuleError saying how to save it properly. Only UTF-8 is accepted:
    guessing an older encoding silently garbles names, which is worse than asking."""
    if not data.strip():
        raise BusinessRuleError("This file is empty.", field="file", code="empty_file")
    if data[:4] == b"PK\x03\x04" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise BusinessRuleError(
            f"This is a spreadsheet workbook, not a CSV file. {SAVE_AS_UTF8}", field="file", code="bad_encoding"
        )
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:4096]:
        raise BusinessRuleError(
            f"This file is saved as UTF-16 (“Unicode text”), which we can't read. {SAVE_AS_UTF8}",
            field="file",
            code="bad_encoding",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BusinessRuleError(
            f"This file isn't saved as UTF-8 (unreadable characters on line {line}). {SAVE_AS_UTF8}",
            field="file",
            code="bad_encoding",
        ) from exc
    if "\x00" in text:
        raise BusinessRuleError(f"This file contains binary data, not text. {SAVE_AS_UTF8}", field="file")
    return text


def _dialect(text: str) -> type[csv.Dialect]:
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)

    class Dialect(csv.excel):
        pass

    Dialect.delimiter = delimiter if first_line.count(delimiter) else ","
    return Dialect


def read_rows(text: str) -> tuple[list[str], list[list[str]]]:
    """(header, data rows). Raises BusinessRuleError when the text isn't a CSV with a header."""
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), _dialect(text)))
    except csv.Error as exc:
        raise BusinessRuleError(f"This file isn't a CSV we can read ({exc}).", field="file") from exc
    while records and not any(cell.strip() for cell in records[0]):
        records.pop(0)
    if not records:
        raise BusinessRuleError("This file is empty.", field="file", code="empty_file")
    header = [cell.strip() for cell in records[0]]
    return header, records[1:]


def _normalized_header(cell: str) -> str:
    return re.sub(r"[^a-z0-9]", "", cell.lower())


def guess_mapping(header: list[str]) -> dict[str, int]:
    """Member field → column index, from header names such as "First Name", "Cell Phone", "E-mail"."""
    normalized = [_normalized_header(cell) for cell in header]
    mapping: dict[str, int] = {}
    for member_field, synonyms in HEADER_SYNONYMS.items():
        for synonym in synonyms:
            candidates = [i for i, cell in enumerate(normalized) if cell == synonym and i not in mapping.values()]
            if candidates:
                mapping[member_field] = candidates[0]
                break
    if "phone" not in mapping:  # "Mobile Phone (preferred)" and the like
        for i, cell in enumerate(normalized):
            if i not in mapping.values() and any(word in cell for word in ("mobile", "cell", "phone")):
                mapping["phone"] = i
                break
    if "first_name" in mapping and "last_name" in mapping:
        mapping.pop("full_name", None)
    return mapping


def clean_mapping(raw: dict[str, int], header: list[str]) -> dict[str, int]:
    """Validate a mapping chosen on the page (or by an API caller)."""
    mapping: dict[str, int] = {}
    for member_field, column in raw.items():
        if member_field not in FIELDS:
            raise BusinessRuleError(f"Unknown member field “{member_field}”.", field="mapping")
        if not isinstance(column, int) or not 0 <= column < len(header):
            raise BusinessRuleError(f"Column {column!r} isn't in this file.", field="mapping")
        mapping[member_field] = column
    if len(set(mapping.values())) != len(mapping):
        raise BusinessRuleError("Each column can go to one member field only.", field="mapping")
    if "phone" not in mapping:
        raise BusinessRuleError(
            "Choose the column that holds members' mobile phone numbers; we can't import without it.",
            field="mapping",
            code="no_phone_column",
        )
    return mapping


# --- Phones, fast ----------------------------------------------------------------------------------


class PhoneReader:
    """``parse_phone`` with the same verdicts, about three times faster for the common case: one
    ``number_type`` call decides validity and textability together, and the time zone is read straight
    from libphonenumber's prefix table instead of recomputing the type. Failures (and anything unusual)
    go through ``parse_phone`` itself, so rejected rows get exactly its messages."""

    def __init__(self, default_region: str):
        self.default_region = default_region or "US"
        self._cache: dict[str, tuple[str, str, str] | str] = {}

    def read(self, raw: str) -> tuple[str, str, str] | str:
        """(E.164, blind index, time zone or "") or the reason the number can't be used."""
        cached = self._cache.get(raw)
        if cached is None:
            cached = self._cache[raw] = self._read(raw)
        return cached

    def _read(self, raw: str) -> tuple[str, str, str] | str:
        text = raw.strip()
        if sum(ch.isdigit() for ch in text) >= 7:
            try:
                number = phonenumbers.parse(text, self.default_region)
            except phonenumbers.NumberParseException:
                number = None
            if number is not None:
                number_type = phonenumbers.number_type(number)
                if number_type in TEXTABLE_TYPES:
                    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
                    zones = self._zones(number, number_type, e164)
                    zones = [z for z in zones if z != "Etc/Unknown"]
                    return e164, phone_hash(e164), zones[0] if len(zones) == 1 else ""
        try:
            parsed = parse_phone(text, default_region=self.default_region)
        except InvalidPhone as exc:
            return str(exc)
        return parsed.e164, phone_hash(parsed.e164), parsed.timezone or ""

    @staticmethod
    def _zones(number, number_type, e164: str):
        # phonenumbers.timezone.time_zones_for_number, minus its second number_type() call.
        if not is_number_type_geographical(number_type, number.country_code):
            return phone_timezone._country_level_time_zones_for_number(number)
        for length in range(TIMEZONE_LONGEST_PREFIX, 0, -1):
            zones = TIMEZONE_DATA.get(e164[1 : 1 + length])
            if zones is not None:
                return zones
        return ("Etc/Unknown",)


# --- Upload, preview, start -----------------------------------------------------------------------


def member_import_upload(*, church: Church, acting_user: User | None, file_name: str, data: bytes) -> ImportJob:
    """Store an uploaded CSV as a pending import with a guessed mapping. Refuses (BusinessRuleError)
    files over the size limit, in the wrong encoding, or without a header and a data row."""
    check_upload_size(len(data))
    text = decode_csv_bytes(data)
    header, rows = read_rows(text)
    if not any(any(cell.strip() for cell in row) for row in rows):
        raise BusinessRuleError("This file has a header row but no members under it.", field="file", code="empty_file")
    return ImportJob.objects.create(
        church=church,
        file_name=(file_name or "members.csv")[:255],
        content=text,
        mapping=guess_mapping(header),
        total_rows=len(rows),
        created_by=acting_user if getattr(acting_user, "pk", None) else None,
    )


@dataclass
class PreviewRow:
    row_number: int
    cells: list[str]
    problem: str = ""


@dataclass
class Preview:
    header: list[str]
    rows: list[PreviewRow]
    total_rows: int
    mapping: dict[str, int]
    unknown_branches: list[str] = field(default_factory=list)
    new_groups: list[str] = field(default_factory=list)


def member_import_preview(*, job: ImportJob, mapping: dict[str, int] | None = None) -> Preview:
    """The first rows as the import would read them, with the problem of each (if any), and the
    branch and group names of the whole file that don't exist yet."""
    header, rows = read_rows(job.content)
    mapping = job.mapping if mapping is None else mapping
    plan = _Plan.for_preview(job, header, mapping, rows)
    preview_rows = []
    for index, row in enumerate(rows[:PREVIEW_ROWS]):
        prepared = plan.prepare(index + 2, row) if "phone" in mapping else None
        problem = prepared.reason if prepared is not None else ""
        preview_rows.append(PreviewRow(row_number=index + 2, cells=row, problem=problem or ""))
    return Preview(
        header=header,
        rows=preview_rows,
        total_rows=len(rows),
        mapping=mapping,
        unknown_branches=plan.unknown_branch_names,
        new_groups=plan.new_group_names,
    )


@transaction.atomic
def member_import_start(
    *,
    church: Church,
    job: ImportJob,
    acting_user: User | None,
    mapping: dict[str, int],
    consent_text: str,
    group: Group | None = None,
    branch: Branch | None = None,
) -> ImportJob:
    """Confirm the mapping and consent statement and queue the run (after commit)."""
    from churches.tasks import member_import_run_task

    job = ImportJob.objects.select_for_update().get(church=church, pk=job.pk)
    if job.status != ImportJob.Status.PENDING:
        raise BusinessRuleError("This import has already been started.", code="conflict", status=409)
    header, _ = read_rows(job.content)
    consent_text = (consent_text or "").strip()
    if not consent_text:
        raise BusinessRuleError(
            "Say how these people agreed to receive texts, e.g. “Connect card sign-up”.", field="consent_text"
        )
    for owned, what in ((group, "group"), (branch, "branch")):
        if owned is not None and owned.church_id != church.pk:
            raise BusinessRuleError(f"Unknown {what}.", field=what)
    job.mapping = clean_mapping(mapping, header)
    job.consent_text = consent_text[:2000]
    job.group = group
    job.branch = branch
    job.status = ImportJob.Status.QUEUED
    job.save(update_fields=["mapping", "consent_text", "group", "branch", "status"])
    job_id = job.pk
    transaction.on_commit(lambda: member_import_run_task.delay(job_id))
    return job


@transaction.atomic
def member_import_retry(*, church: Church, job: ImportJob, acting_user: User | None) -> ImportJob:
    """Queue a failed (or stalled) run again; it continues where it stopped."""
    from churches.tasks import member_import_run_task

    job = ImportJob.objects.select_for_update().get(church=church, pk=job.pk)
    stalled = job.status == ImportJob.Status.RUNNING and (
        job.heartbeat_at is None or job.heartbeat_at < timezone.now() - LEASE
    )
    if job.status != ImportJob.Status.FAILED and not stalled:
        raise BusinessRuleError("Only a failed or stalled import can be retried.", code="conflict", status=409)
    if job.content is None:
        raise BusinessRuleError(FILE_DISCARDED.format(days=report_retention().days), code="conflict", status=409)
    job.status = ImportJob.Status.QUEUED
    job.error_message = ""
    job.save(update_fields=["status", "error_message"])
    job_id = job.pk
    transaction.on_commit(lambda: member_import_run_task.delay(job_id))
    return job


# --- The run ---------------------------------------------------------------------------------------


@dataclass
class _Row:
    row_number: int
    reason: str = ""
    e164: str = ""
    hashed: str = ""
    area_timezone: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    branch_id: int | None = None
    group_ids: tuple[int, ...] = ()


def _cell(row: list[str], index: int | None) -> str:
    if index is None or index >= len(row):
        return ""
    return row[index].strip()


def _split_group_names(value: str) -> list[str]:
    return [name.strip()[:120] for name in re.split(r"[;|,]", value) if name.strip()]


class _Plan:
    """Everything a run needs to turn rows into members: the mapping, the church's branches and
    groups by lower-cased name, the phone reader, and the duplicate-in-file memory."""

    def __init__(self, job: ImportJob, header: list[str], mapping: dict[str, int]):
        self.job = job
        self.church = job.church
        self.header = header
        self.mapping = mapping
        self.phones = PhoneReader(job.church.default_region)
        self.seen: dict[str, int] = {}  # phone hash → row number of its first occurrence
        self.branches = {
            name: pk
            for pk, name in Branch.objects.filter(church=job.church)
            .annotate(lname=Lower("name"))
            .values_list("pk", "lname")
        }
        self.groups = {
            name: pk
            for pk, name in Group.objects.filter(church=job.church)
            .annotate(lname=Lower("name"))
            .values_list("pk", "lname")
        }
        self.unknown_branch_names: list[str] = []
        self.new_group_names: list[str] = []

    @classmethod
    def for_preview(cls, job, header, mapping, rows) -> "_Plan":
        plan = cls(job, header, mapping)
        plan._scan_names(rows)
        return plan

    def _scan_names(self, rows: list[list[str]]) -> None:
        branch_column, group_column = self.mapping.get("branch"), self.mapping.get("groups")
        unknown_branches: dict[str, str] = {}
        new_groups: dict[str, str] = {}
        if branch_column is None and group_column is None:
            return
        for row in rows:
            name = _cell(row, branch_column)
            if name and name.lower() not in self.branches:
                unknown_branches.setdefault(name.lower(), name)
            for group_name in _split_group_names(_cell(row, group_column)):
                if group_name.lower() not in self.groups:
                    new_groups.setdefault(group_name.lower(), group_name)
        self.unknown_branch_names = sorted(unknown_branches.values(), key=str.lower)
        self.new_group_names = sorted(new_groups.values(), key=str.lower)

    def create_missing_groups(self, rows: list[list[str]]) -> None:
        """Groups named in the file that don't exist yet are created first, in one statement, so
        every chunk can refer to them (and a resumed run finds them)."""
        self._scan_names(rows)
        if not self.new_group_names:
            return
        Group.objects.bulk_create(
            [Group(church=self.church, name=name) for name in self.new_group_names], ignore_conflicts=True
        )
        self.groups.update(
            Group.objects.filter(church=self.church)
            .annotate(lname=Lower("name"))
            .values_list("lname", "pk")
            .filter(lname__in=[name.lower() for name in self.new_group_names])
        )

    def prepare(self, row_number: int, row: list[str]) -> _Row | None:
        """A row read into member fields, or with ``reason`` set; None for a blank row."""
        if not any(cell.strip() for cell in row):
            return None
        result = _Row(row_number=row_number)
        if len(row) > len(self.header) and any(cell.strip() for cell in row[len(self.header) :]):
            result.reason = REASON_TOO_MANY_CELLS
            return result
        mapping = self.mapping
        raw_phone = _cell(row, mapping.get("phone"))
        if not raw_phone:
            result.reason = REASON_NO_PHONE
            return result
        read = self.phones.read(raw_phone)
        if isinstance(read, str):
            result.reason = read
            return result
        result.e164, result.hashed, result.area_timezone = read
        first, last = _cell(row, mapping.get("first_name")), _cell(row, mapping.get("last_name"))
        full = _cell(row, mapping.get("full_name"))
        if full and not (first or last):
            first, _, last = full.rpartition(" ") if " " in full else (full, "", "")
        result.first_name, result.last_name = first[:100], last[:100]
        email = _cell(row, mapping.get("email")).lower()
        if email:
            try:
                validate_email(email)
            except ValidationError:
                result.reason = f"“{email[:80]}” isn't an email address."
                return result
            result.email = email[:254]
        branch_name = _cell(row, mapping.get("branch"))
        if branch_name:
            result.branch_id = self.branches.get(branch_name.lower())
            if result.branch_id is None:
                result.reason = f"There is no branch called “{branch_name[:80]}”. Add it on the Branches page first."
                return result
        names = _split_group_names(_cell(row, mapping.get("groups")))
        group_ids = {self.groups[name.lower()] for name in names if name.lower() in self.groups}  # preview: not yet
        if self.job.group_id:
            group_ids.add(self.job.group_id)
        result.group_ids = tuple(sorted(group_ids))
        first_row = self.seen.setdefault(result.hashed, row_number)
        if first_row != row_number:
            result.reason = REASON_DUPLICATE.format(row=first_row)
        return result

    def remember_phones(self, rows: list[list[str]], *, until: int) -> None:
        """On resume: learn the phones of rows already processed, for duplicate detection."""
        column = self.mapping["phone"]
        for index, row in enumerate(rows[:until]):
            read = self.phones.read(_cell(row, column)) if _cell(row, column) else ""
            if not isinstance(read, str):
                self.seen.setdefault(read[1], index + 2)


@dataclass
class _ChunkOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


def member_import_run(*, job_id: int) -> ImportJob | None:
    """Run (or continue) an import. Safe to call twice, concurrently or after a crash: one worker
    holds the job's lease at a time, and each chunk commits together with the progress that covers
    it. Returns the job, or None if another live worker holds it."""
    if not _claim(job_id):
        return None
    job = ImportJob.objects.select_related("church").get(pk=job_id)
    try:
        _run(job)
    except Exception as exc:
        ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
            status=ImportJob.Status.FAILED,
            error_message=f"The import stopped unexpectedly ({exc.__class__.__name__}). "
            "Members imported so far are kept; retry to continue from where it stopped.",
            finished_at=timezone.now(),
        )
        raise
    job.refresh_from_db()
    return job


def _claim(job_id: int) -> bool:
    now = timezone.now()
    claimable = ImportJob.objects.filter(pk=job_id).filter(
        status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]
    )
    claimable = claimable.exclude(status=ImportJob.Status.RUNNING, heartbeat_at__gte=now - LEASE)
    claimed = claimable.update(status=ImportJob.Status.RUNNING, heartbeat_at=now)
    if claimed:
        ImportJob.objects.filter(pk=job_id, started_at=None).update(started_at=now)
    return bool(claimed)


def _run(job: ImportJob) -> None:
    header, rows = read_rows(job.content)
    plan = _Plan(job, header, job.mapping)
    plan.create_missing_groups(rows)
    if job.processed_rows:
        plan.remember_phones(rows, until=job.processed_rows)
    offset = job.processed_rows
    limit_detail: list[str] = []  # set once the plan's member limit is reached in this run
    while offset < len(rows):
        chunk = rows[offset : offset + CHUNK_ROWS]
        prepared = [plan.prepare(offset + i + 2, row) for i, row in enumerate(chunk)]
        for attempt in range(3):
            try:
                with transaction.atomic():
                    _relax_commit_durability()
                    locked = ImportJob.objects.select_for_update().only("status", "processed_rows").get(pk=job.pk)
                    if locked.status != ImportJob.Status.RUNNING or locked.processed_rows != offset:
                        return  # another worker took over after our lease ran out
                    outcome = _apply_chunk(job, [row for row in prepared if row is not None], limit_detail)
                    ImportRejectedRow.objects.bulk_create(
                        [
                            ImportRejectedRow(
                                church_id=job.church_id,
                                job=job,
                                row_number=n,
                                reason=reason[:300],
                                cells=rows[n - 2],  # kept for the report: the file itself is dropped
                            )
                            for n, reason in outcome.rejected
                        ],
                        ignore_conflicts=True,
                    )
                    ImportJob.objects.filter(pk=job.pk).update(
                        processed_rows=offset + len(chunk),
                        total_rows=len(rows),
                        created_count=F("created_count") + outcome.created,
                        updated_count=F("updated_count") + outcome.updated,
                        unchanged_count=F("unchanged_count") + outcome.unchanged,
                        rejected_count=F("rejected_count") + len(outcome.rejected),
                        heartbeat_at=timezone.now(),
                    )
                break
            except IntegrityError:
                # Someone added one of these phones between our lookup and our insert: look again.
                if attempt == 2:
                    raise
        offset += len(chunk)
    finished = timezone.now()
    # Done: the file goes. What the report needs (header, rejected rows) stays, encrypted, until then.
    ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
        status=ImportJob.Status.DONE,
        finished_at=finished,
        total_rows=len(rows),
        content=None,
        report_header=header,
        report_expires_at=finished + report_retention(),
    )


def _relax_commit_durability() -> None:
    """Don't wait for this chunk's commit to reach disk (PostgreSQL only). Safe here: the chunk's
    rows and the progress that covers them commit together, so if a crash loses the last few
    commits the job simply resumes before them and re-applies them idempotently. It saves an fsync
    per chunk, which on a busy disk is most of the database time."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _apply_chunk(job: ImportJob, rows: list[_Row], limit_detail: list[str]) -> _ChunkOutcome:
    church, actor_id, now = job.church, job.created_by_id, timezone.now()
    outcome = _ChunkOutcome()
    valid = []
    for row in rows:
        if row.reason:
            outcome.rejected.append((row.row_number, row.reason))
        else:
            valid.append(row)
    existing = {
        values["phone_hash"]: values
        for values in Member.objects.filter(church=church, phone_hash__in=[row.hashed for row in valid]).values(
            "pk", "phone_hash", "first_name", "last_name", "email", "branch_id", "sms_status"
        )
    }
    new_rows = [row for row in valid if row.hashed not in existing]
    new_rows = _within_member_limit(church, new_rows, outcome, limit_detail)

    members = Member.objects.bulk_create(
        [
            Member(
                church=church,
                first_name=row.first_name,
                last_name=row.last_name,
                phone=row.e164,
                phone_hash=row.hashed,
                email=row.email,
                branch_id=row.branch_id or job.branch_id,
                sms_status=SmsStatus.SUBSCRIBED,
                timezone=row.area_timezone,
                created_by_id=actor_id,
                created_at=now,
                updated_at=now,
            )
            for row in new_rows
        ]
    )
    if any(member.pk is None for member in members):  # backends that can't return ids from INSERT
        ids = dict(
            Member.objects.filter(church=church, phone_hash__in=[m.phone_hash for m in members]).values_list(
                "phone_hash", "pk"
            )
        )
        for member in members:
            member.pk = ids[member.phone_hash]
    outcome.created = len(members)
    memberships = [(member.pk, g) for member, row in zip(members, new_rows, strict=True) for g in row.group_ids]
    subscribe_ids = [member.pk for member in members]

    changed_members, existing_rows = [], []
    for row in valid:
        current = existing.get(row.hashed)
        if current is None:
            continue
        if current["sms_status"] == SmsStatus.UNSUBSCRIBED:
            outcome.rejected.append((row.row_number, REASON_OPTED_OUT))
            continue
        existing_rows.append((row, current))
    current_groups = set(
        GroupMembership.objects.filter(
            church=church, member_id__in=[current["pk"] for _, current in existing_rows]
        ).values_list("member_id", "group_id")
    )
    for row, current in existing_rows:
        wanted = {
            "first_name": row.first_name or current["first_name"],
            "last_name": row.last_name or current["last_name"],
            "email": row.email or current["email"],
            "branch_id": row.branch_id or current["branch_id"] or job.branch_id,
        }
        fields_changed = any(wanted[key] != current[key] for key in wanted)
        if fields_changed:
            # bulk_update skips pre_save: the email's blind index is set here.
            changed_members.append(
                Member(pk=current["pk"], updated_at=now, email_local_hash=email_local_hash(wanted["email"]), **wanted)
            )
        new_groups = [g for g in row.group_ids if (current["pk"], g) not in current_groups]
        memberships.extend((current["pk"], g) for g in new_groups)
        subscribing = current["sms_status"] == SmsStatus.NEVER_CONSENTED
        if subscribing:
            subscribe_ids.append(current["pk"])
        if fields_changed or new_groups or subscribing:
            outcome.updated += 1
        else:
            outcome.unchanged += 1

    if changed_members:
        Member.objects.bulk_update(
            changed_members, ["first_name", "last_name", "email", "email_local_hash", "branch_id", "updated_at"]
        )
    GroupMembership.objects.bulk_create(
        [GroupMembership(church=church, member_id=m, group_id=g, created_at=now) for m, g in memberships],
        ignore_conflicts=True,
    )
    # The ledger rule: sms_status moves only together with a ConsentEvent, in this same transaction.
    ConsentEvent.objects.bulk_create(
        [
            ConsentEvent(
                church=church,
                member_id=member_id,
                kind=ConsentEvent.Kind.OPT_IN,
                source=ConsentEvent.Source.IMPORT,
                raw_text=job.consent_text,
                actor_id=actor_id,
                created_at=now,
            )
            for member_id in subscribe_ids
        ]
    )
    newly_existing = subscribe_ids[len(members) :]
    if newly_existing:
        Member.objects.filter(church=church, pk__in=newly_existing, sms_status=SmsStatus.NEVER_CONSENTED).update(
            sms_status=SmsStatus.SUBSCRIBED, updated_at=now
        )
    # Welcome texts and other reactions to new subscribers run after this chunk commits.
    announce_members_subscribed(church_id=church.pk, member_ids=subscribe_ids)
    return outcome


def _within_member_limit(church: Church, new_rows: list[_Row], outcome: _ChunkOutcome, limit_detail: list[str]):
    """The new rows the plan allows (the first ones); the rest are rejected with the plan's reason."""
    if not new_rows:
        return new_rows
    allowed = 0 if limit_detail else len(new_rows)
    if not limit_detail:
        try:
            check_limit(church=church, resource="members", adding=len(new_rows))
        except BusinessRuleError as exc:
            limit_detail.append(exc.message)
            low, high = 0, len(new_rows) - 1  # find the most that still fit
            while low < high:
                middle = (low + high + 1) // 2
                try:
                    check_limit(church=church, resource="members", adding=middle)
                except BusinessRuleError:
                    high = middle - 1
                else:
                    low = middle
            allowed = low
    for row in new_rows[allowed:]:
        outcome.rejected.append((row.row_number, REASON_OVER_LIMIT.format(detail=limit_detail[0])))
    return new_rows[:allowed]


# --- Report -----------------------------------------------------------------------------------------


_PHONE_LIKE = re.compile(r"[+\-\d\s().]*")


def spreadsheet_safe(value: str) -> str:
    """Neutralize cells a spreadsheet would run as a formula (CSV injection). Phone-like cells such as
    "+1 312 555 0101" stay as they are: without letters a formula can't call anything."""
    if value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _PHONE_LIKE.fullmatch(value):
        return f"'{value}"
    return value


def member_import_report_rows(*, job: ImportJob) -> Iterator[list[str]]:
    """The rejected rows as they were in the file, with the row number and the reason in front:
    fix them in a spreadsheet and import the report itself (the extra columns are ignored). Once the
    report has expired (``member_import_purge_expired``) only the header line is left."""
    header = job.report_header
    if header is None:  # not finished: the header is still in the file
        header = read_rows(job.content)[0] if job.content else []
    yield ["Row", "Reason", *header]
    rejected = ImportRejectedRow.objects.filter(church=job.church_id, job=job).order_by("row_number")
    for row_number, reason, cells in rejected.values_list("row_number", "reason", "cells").iterator(chunk_size=2000):
        yield [str(row_number), reason, *(spreadsheet_safe(cell) for cell in cells or [])]


# --- Retention ----------------------------------------------------------------------------------------

FILE_DISCARDED = (
    "The uploaded file was deleted because this import was not finished within {days} days "
    "(we don't keep members' details longer than needed). Upload the file again to import it."
)


def report_retention() -> timedelta:
    return timedelta(days=getattr(settings, "IMPORT_REPORT_RETENTION_DAYS", 30))


def member_import_purge_expired(*, now=None) -> dict[str, int]:
    """Delete what imports keep of members' details once it is no longer needed (beat, hourly):

    - the rejected-rows report (its rows and the header) of imports finished more than
      ``IMPORT_REPORT_RETENTION_DAYS`` ago;
    - the file of imports started that long ago that never finished: uploads never confirmed, failed
      runs never retried, runs stalled for good. They are marked failed with the reason.

    Counts and dates stay (they are not personal data). Safe to run twice: each step only touches
    what is still there."""
    now = now or timezone.now()
    cutoff = now - report_retention()
    expired = ImportJob.objects.filter(report_expires_at__lt=now)
    rows_deleted = ImportRejectedRow.objects.filter(job__in=expired.values("pk")).delete()[0]
    reports = expired.exclude(report_header=None).update(report_header=None)
    abandoned = (
        ImportJob.objects.filter(created_at__lt=cutoff)
        .exclude(content=None)
        .exclude(status=ImportJob.Status.DONE)
        # A run that still shows signs of life finishes (and drops the file) on its own.
        .exclude(status=ImportJob.Status.RUNNING, heartbeat_at__gte=now - LEASE)
    )
    abandoned_ids = list(abandoned.values_list("pk", flat=True))
    files = 0
    if abandoned_ids:
        with transaction.atomic():
            ImportRejectedRow.objects.filter(job_id__in=abandoned_ids).delete()
            files = ImportJob.objects.filter(pk__in=abandoned_ids).update(
                content=None,
                report_header=None,
                status=ImportJob.Status.FAILED,
                error_message=FILE_DISCARDED.format(days=report_retention().days),
                finished_at=Coalesce("finished_at", Value(now)),
                report_expires_at=now,
            )
    return {"report_rows_deleted": rows_deleted, "reports_expired": reports, "files_discarded": files}
