from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from churches import services
from churches.models import User
from koinonia.exceptions import BusinessRuleError


class Command(BaseCommand):
    help = "Create a church and its owner (support staff). An existing user becomes the owner; their password stays."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("owner_email")
        parser.add_argument("password", help="The new owner's password (held to the same rules as sign-up).")
        parser.add_argument("--owner-name", default="")
        parser.add_argument("--timezone", default="America/New_York")

    def handle(self, *args, name, owner_email, password, owner_name, timezone, **options):
        existing = User.objects.filter(email__iexact=owner_email).first()
        owner_name = owner_name or owner_email.split("@")[0]
        if existing is None:
            # The sign-up form applies AUTH_PASSWORD_VALIDATORS; a support-made owner must pass the same rules.
            try:
                password_validation.validate_password(password, user=User(email=owner_email, name=owner_name))
            except ValidationError as exc:
                problems = "\n".join(f"  - {message}" for message in exc.messages)
                raise CommandError(f"The password was refused:\n{problems}") from exc
        try:
            if existing:
                church = services.church_create(name=name, timezone_name=timezone, owner=existing)
            else:
                church, _ = services.church_signup(
                    church_name=name,
                    timezone_name=timezone,
                    owner_name=owner_name,
                    email=owner_email,
                    password=password,
                )
        except BusinessRuleError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"Created {church.name} (slug: {church.slug}) owned by {owner_email}"))
