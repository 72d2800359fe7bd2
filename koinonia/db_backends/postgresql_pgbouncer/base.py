"""Django's PostgreSQL backend for a connection through PgBouncer (``DATABASE_POOLER=pgbouncer``).

Queries behave exactly as with ``django.db.backends.postgresql`` (the pooled-mode settings in
``settings/base.py`` do the rest). Only creating and dropping a database differs: PgBouncer keeps idle
server connections to a database after its clients have gone, and a plain ``DROP DATABASE`` refuses while
any is open, so the test database is dropped ``WITH (FORCE)`` (PostgreSQL 13+), which ends them.
"""

from django.db.backends.postgresql import base, creation


class DatabaseCreation(creation.DatabaseCreation):
    def _execute_create_test_db(self, cursor, parameters, keepdb=False):
        # A leftover test database (an interrupted run) would otherwise fail to drop on autoclobber.
        if not keepdb and self._database_exists(cursor, parameters["dbname"]):
            cursor.execute(f"DROP DATABASE {parameters['dbname']} WITH (FORCE)")
        super()._execute_create_test_db(cursor, parameters, keepdb)

    def _destroy_test_db(self, test_database_name, verbosity):
        self.connection.close_pool()
        with self._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE {self.connection.ops.quote_name(test_database_name)} WITH (FORCE)")


class DatabaseWrapper(base.DatabaseWrapper):
    creation_class = DatabaseCreation
