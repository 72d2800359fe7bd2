"""Create the PostgreSQL database DATABASE_URL names when it doesn't exist yet (``make run`` calls this before
``migrate``, so a first run against a fresh server works). A no-op on SQLite, which creates its file itself."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

# Keys Django accepts in DATABASES[...]["OPTIONS"] that are not libpq connection parameters.
DJANGO_ONLY_OPTIONS = {"assume_role", "isolation_level", "pool", "server_side_binding", "prepare_threshold"}
MAINTENANCE_DB = "postgres"


class Command(BaseCommand):
    help = "Create the configured PostgreSQL database if it is missing (no-op on SQLite)."
    # Runs before the database exists; checks belong to the migrate that follows.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default", help="Which DATABASES alias (default: default).")

    def handle(self, *args, database, **options):
        connection = connections[database]
        if connection.vendor != "postgresql":
            self.stdout.write(f"{connection.vendor}: nothing to create.")
            return
        import psycopg
        from psycopg import errors, sql

        settings_dict = connection.settings_dict
        name = settings_dict["NAME"]
        if not name:
            raise CommandError("DATABASE_URL names no database.")
        params = {k: v for k, v in settings_dict["OPTIONS"].items() if k not in DJANGO_ONLY_OPTIONS}
        for key, param in (("USER", "user"), ("PASSWORD", "password"), ("HOST", "host"), ("PORT", "port")):
            if settings_dict[key]:
                params[param] = settings_dict[key]
        try:
            # The database itself can't be connected to yet, so ask the server's maintenance database.
            with psycopg.connect(dbname=MAINTENANCE_DB, autocommit=True, connect_timeout=10, **params) as admin:
                exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
                if exists:
                    self.stdout.write(f"Database {name} exists.")
                    return
                try:
                    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                except errors.DuplicateDatabase:  # created by a concurrent run between our look and now
                    self.stdout.write(f"Database {name} exists.")
                    return
        except psycopg.Error as exc:
            raise CommandError(
                f"Could not make sure database {name} exists (connecting to {MAINTENANCE_DB!r} on the same "
                f"server as DATABASE_URL): {exc}".strip()
            ) from exc
        self.stdout.write(self.style.SUCCESS(f"Created database {name}."))
