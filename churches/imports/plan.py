"""Turning the file's rows into member fields: the mapping, the church's branches and groups by
name, the phone reader and the memory of phones already seen in the file (duplicates)."""

import re
from dataclasses import dataclass

from django.db.models.functions import Lower

from churches.imports.reading import REASON_DUPLICATE, REASON_NO_PHONE, REASON_TOO_MANY_CELLS, PhoneReader
from churches.models import Branch, Group, ImportJob
from churches.services.member_fields import clean_member_fields
from churches.services.upsert import UpsertRow
from koinonia.exceptions import BusinessRuleError


@dataclass
class ImportRow:
    """A file row read for the upsert engine (``upsert``), or the reason it can't be imported."""

    row_number: int
    reason: str = ""
    upsert: UpsertRow | None = None


def _cell(row: list[str], index: int | None) -> str:
    if index is None or index >= len(row):
        return ""
    return row[index].strip()


def _split_group_names(value: str) -> list[str]:
    return [name.strip()[:120] for name in re.split(r"[;|,]", value) if name.strip()]


class ImportPlan:
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
            for pk, name in Branch.objects.for_church(job.church)
            .annotate(lname=Lower("name"))
            .values_list("pk", "lname")
        }
        self.groups = {
            name: pk
            for pk, name in Group.objects.for_church(job.church)
            .annotate(lname=Lower("name"))
            .values_list("pk", "lname")
        }
        self.unknown_branch_names: list[str] = []
        self.new_group_names: list[str] = []

    @classmethod
    def for_preview(cls, job, header, mapping, rows) -> "ImportPlan":
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
            Group.objects.for_church(self.church)
            .annotate(lname=Lower("name"))
            .values_list("lname", "pk")
            .filter(lname__in=[name.lower() for name in self.new_group_names])
        )

    def prepare(self, row_number: int, row: list[str]) -> ImportRow | None:
        """A row read into member fields, or with ``reason`` set; None for a blank row."""
        if not any(cell.strip() for cell in row):
            return None
        result = ImportRow(row_number=row_number)
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
        e164, hashed, area_timezone = read
        first, last = _cell(row, mapping.get("first_name")), _cell(row, mapping.get("last_name"))
        full = _cell(row, mapping.get("full_name"))
        if full and not (first or last):
            first, _, last = full.rpartition(" ") if " " in full else (full, "", "")
        # Only cells with a value replace what an existing member has: the engine leaves absent keys alone.
        cells = {
            "first_name": first,
            "last_name": last,
            "email": _cell(row, mapping.get("email")),
            "language": _cell(row, mapping.get("language")),
        }
        try:
            fields = clean_member_fields({key: value for key, value in cells.items() if value})
        except BusinessRuleError as exc:
            result.reason = exc.message
            return result
        branch_name = _cell(row, mapping.get("branch"))
        if branch_name:
            fields["branch_id"] = self.branches.get(branch_name.lower())
            if fields["branch_id"] is None:
                result.reason = f"There is no branch called “{branch_name[:80]}”. Add it on the Branches page first."
                return result
        names = _split_group_names(_cell(row, mapping.get("groups")))
        group_ids = {self.groups[name.lower()] for name in names if name.lower() in self.groups}  # preview: not yet
        if self.job.group_id:
            group_ids.add(self.job.group_id)
        result.upsert = UpsertRow(e164, hashed, area_timezone, fields, tuple(sorted(group_ids)))
        first_row = self.seen.setdefault(hashed, row_number)
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
