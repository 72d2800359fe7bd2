from django.core.management.base import BaseCommand, CommandError

from churches import services
from churches.models import User
from koinonia.exceptions import BusinessRuleError


class Command(BaseCommand):
    help = "Create a church and its owner (support staff)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("owner_email")
        parser.add_argument("password")
        parser.add_argument("--owner-name", default="")
        parser.add_argument("--timezone", default="America/New_York")

    def handle(self, *args, name, owner_email, password, owner_name, timezone, **options):
        existing = User.objects.filter(email__iexact=owner_email).first()
        try:
            if existing:
                church = services.church_create(name=name, timezone_name=timezone, owner=existing)
            else:
                church, _ = services.church_signup(
                    church_name=name,
                    timezone_name=timezone,
                    owner_name=owner_name or owner_email.split("@")[0],
                    email=owner_email,
                    password=password,
                )
        except BusinessRuleError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"Created {church.name} (slug: {church.slug}) owned by {owner_email}"))
