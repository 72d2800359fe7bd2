"""Provider callbacks (not under /api/v1): each app adds its own hook routes here."""

urlpatterns: list = []
