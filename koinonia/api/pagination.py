from rest_framework.pagination import CursorPagination


class CreatedCursorPagination(CursorPagination):
    """Newest first by id (ids grow with time and are unique, so cursors are stable)."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 500
