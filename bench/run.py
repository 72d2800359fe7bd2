"""Run benchmark scenarios against PostgreSQL + Redis and write bench/results/<scenario>.json.

    python -m bench.run                  # every scenario in bench/scenarios/
    python -m bench.run import_50k       # just these

A scenario is a module ``bench/scenarios/<name>.py`` with ``run() -> dict``. The dict's ``rows`` (a list
of dicts) is printed as a table; everything in it is written to the JSON file, with the machine and the
time of the run added. Scenarios measure against a physical limit measured in the same run (a ratio),
so numbers from a busy or a fast machine stay comparable.
"""

import importlib
import json
import os
import pkgutil
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/koinonia_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def configure() -> None:
    """PostgreSQL + Redis (from the environment, or local defaults), the database created if missing,
    migrated. Test settings: fast hashing, Celery tasks run in-process, DEBUG off."""
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "koinonia.settings.test")
    url = urlparse(os.environ["DATABASE_URL"])
    if not url.scheme.startswith("postgres"):
        sys.exit("Benchmarks run on PostgreSQL: set DATABASE_URL=postgres://...")
    _create_database(url)

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def _create_database(url) -> None:
    import psycopg

    name = url.path.lstrip("/")
    admin = url._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')  # the name comes from our own DATABASE_URL


def available() -> list[str]:
    from bench import scenarios

    return sorted(module.name for module in pkgutil.iter_modules(scenarios.__path__) if not module.name.startswith("_"))


def print_table(rows: list[dict]) -> None:
    if not rows:
        return
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_format(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    print("  ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True)))
    print("  ".join("-" * width for width in widths))
    for line in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def main(argv: list[str]) -> int:
    names = argv or available()
    unknown = set(names) - set(available())
    if unknown:
        print(f"Unknown scenario(s): {', '.join(sorted(unknown))}. Available: {', '.join(available())}")
        return 2
    configure()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    for name in names:
        module = importlib.import_module(f"bench.scenarios.{name}")
        print(f"\n== {name}: {(module.__doc__ or '').strip().splitlines()[0]}")
        started = time.perf_counter()
        result = module.run()
        result = {
            "scenario": name,
            "ran_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "wall_seconds": round(time.perf_counter() - started, 2),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            **result,
        }
        print_table(result.get("rows", []))
        if result.get("summary"):
            print(result["summary"])
        path = RESULTS_DIR / f"{name}.json"
        path.write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(f"-> {path.relative_to(RESULTS_DIR.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
