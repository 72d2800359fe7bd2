"""``make run``'s process manager: honcho running ``Procfile.dev`` (web, worker, beat), with a grace period
the worker can keep.

On Ctrl-C honcho sends SIGTERM to each process group and SIGKILLs whatever still runs five seconds after
the first process exits (a module constant, with no command-line option). The web server exits at once,
but a Celery worker on the filesystem broker cannot: its blocking loop (kombu's filesystem transport has
no event loop) only looks at the stop flag between two-second polls, then stops its timer, its pool and
its broker connection, and lets any running task finish (warm shutdown: the task is acked, not
repeated). That took about five seconds on an idle laptop, so a loaded one ended in SIGKILL. Here the
grace period is RUN_GRACE_SECONDS (default 30): enough for a warm shutdown, short enough that a wedged
process still goes.

    python -m koinonia.devrun start -p 8000     # what `make run` runs
"""

import os
import sys

from honcho import command, manager

DEFAULT_GRACE_SECONDS = 30.0


def main(argv: list[str]) -> None:
    from koinonia import celery

    if celery.SETTINGS_MODULE_DEFAULTED:
        # Nobody chose a settings module: `make run` is development (production is the default only for
        # processes started bare, which is what koinonia/celery.py put in our environment on import).
        os.environ["DJANGO_SETTINGS_MODULE"] = "koinonia.settings.base"
    manager.KILL_WAIT = float(os.environ.get("RUN_GRACE_SECONDS", DEFAULT_GRACE_SECONDS))
    sys.argv = ["honcho", "-f", "Procfile.dev", *argv]
    command.main()


if __name__ == "__main__":
    main(sys.argv[1:])
