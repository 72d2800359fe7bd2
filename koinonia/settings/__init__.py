"""Settings package.

``base`` is the embedded default used by ``make run`` (SQLite, local-memory cache, filesystem broker,
console SMS provider) and switches to PostgreSQL / Redis when ``DATABASE_URL`` / ``REDIS_URL`` are set.
``test`` is ``base`` made fast and hermetic; ``production`` refuses to start without its secrets.
"""
