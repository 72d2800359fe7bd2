#!/usr/bin/env python
import os
import sys


def main():
    # manage.py is the developer's tool: the embedded default. Servers (wsgi.py, asgi.py, celery.py)
    # default to production settings instead; `make run` and Procfile.dev opt in to these explicitly.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "koinonia.settings.base")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
