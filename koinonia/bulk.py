"""Set-based writes the ORM does not do well.

``QuerySet.bulk_update`` writes ``SET col = CASE WHEN id = 1 THEN … WHEN id = 2 THEN … END`` for every
column: PostgreSQL evaluates each CASE by walking its branches, so updating n rows costs O(n²) and
dominated the send pipeline's write-back and the delivery-status batches. On PostgreSQL
:func:`bulk_update_rows` writes ``UPDATE … FROM (VALUES …)`` instead — one join, O(n). Elsewhere (the
embedded SQLite default) it falls back to ``bulk_update``.

Rows can be model instances or plain dicts keyed by attribute name (``"id"``, ``"status"``, ``"segments"``…):
the hot paths pass dicts, because building a model instance per row was a tenth of a send worker's CPU.
"""

from collections.abc import Mapping, Sequence

from django.db import connections
from django.db.models import Model, QuerySet


def bulk_update_rows(
    queryset: QuerySet, objs: Sequence[Model | Mapping], fields: Sequence[str], *, batch_size: int = 1000
) -> int:
    """Write ``fields`` of ``objs`` (matched by primary key) to the rows of ``queryset`` — its filters
    still apply, so rows that no longer match are left alone. Returns how many rows were updated."""
    if not objs:
        return 0
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        model = queryset.model
        instances = [obj if isinstance(obj, Model) else model(**obj) for obj in objs]
        return queryset.bulk_update(instances, fields, batch_size=batch_size)
    meta = queryset.model._meta
    qn = connection.ops.quote_name
    table = qn(meta.db_table)
    pk = meta.pk
    columns = [pk, *(meta.get_field(name) for name in fields)]
    assignments = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in columns[1:])
    # Each placeholder carries its column's type: VALUES would otherwise type a NULL or a timestamp as text.
    row_sql = "(" + ", ".join(f"%s::{f.cast_db_type(connection)}" for f in columns) + ")"
    names = ", ".join(qn(f.column) for f in columns)
    where_sql, where_params = "", ()
    if queryset.query.where:
        where_sql, where_params = queryset.query.get_compiler(queryset.db).compile(queryset.query.where)
    updated = 0
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch_size):
            chunk = objs[start : start + batch_size]
            params = [
                f.get_db_prep_save(obj[f.attname] if isinstance(obj, Mapping) else getattr(obj, f.attname), connection)
                for obj in chunk
                for f in columns
            ]
            sql = (
                f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row_sql] * len(chunk))}) AS v({names}) "  # noqa: S608
                f"WHERE {table}.{qn(pk.column)} = v.{qn(pk.column)}"
            )
            if where_sql:
                sql += f" AND {where_sql}"
                params += list(where_params)
            cursor.execute(sql, params)
            updated += cursor.rowcount
    return updated
