"""WSGI entry point (gunicorn, see gunicorn.conf.py). Production settings unless the environment says
otherwise: a server started without DJANGO_SETTINGS_MODULE must not come up in DEBUG with the public
development keys. Development opts in (manage.py, Procfile.dev)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "koinonia.settings.production")
application = get_wsgi_application()
