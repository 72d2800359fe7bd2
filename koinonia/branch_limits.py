"""Branch limits, part of the tenancy mechanism (``koinonia.tenancy`` re-exports these). A module of
its own, importing nothing of Django's auth, because ``churches.models`` (where ``for_church`` lives)
needs it while the user model is still being loaded."""

from django.db.models import QuerySet

BRANCH_LIMIT_ATTR = "branch_limit_ids"


def limit_to_branches(church, branch_ids) -> None:
    """Mark this request's ``church`` instance as seen by someone limited to ``branch_ids`` (an empty
    collection means no limit). Only the instance is marked: nothing is saved."""
    if church is not None and branch_ids:
        setattr(church, BRANCH_LIMIT_ATTR, frozenset(int(branch_id) for branch_id in branch_ids))


def branch_limit(church) -> frozenset[int] | None:
    """The branch ids ``church`` is limited to in this request, or None for the whole church."""
    return getattr(church, BRANCH_LIMIT_ATTR, None)


def scope_to_branches(queryset: QuerySet, church) -> QuerySet:
    """Apply a branch limit to a church-scoped ``queryset`` whose model declares ``branch_scope``
    (the lookup path from the row to its Branch). Called by ``ChurchOwnedQuerySet.for_church``."""
    limit = branch_limit(church)
    path = getattr(queryset.model, "branch_scope", None)
    if limit is None or path is None:
        return queryset
    return queryset.filter(**{f"{path}__in": limit})
