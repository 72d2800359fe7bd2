from django.core.management.base import BaseCommand, CommandError

from churches import services
from churches.models import Church, Role


class Command(BaseCommand):
    help = "Create an API key for a church and print it once."

    def add_arguments(self, parser):
        parser.add_argument("church_slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--role", default=Role.ADMIN, choices=[Role.ADMIN, Role.STAFF, Role.VIEWER])

    def handle(self, *args, church_slug, name, role, **options):
        church = Church.objects.filter(slug=church_slug).first()
        if church is None:
            raise CommandError(f"No church with slug {church_slug!r}.")
        api_key, raw_key = services.api_key_create(church=church, acting_user=None, name=name, role=role)
        self.stderr.write(f"API key “{api_key.name}” for {church.name} (shown once; store it safely):")
        self.stdout.write(raw_key)
