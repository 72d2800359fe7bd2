"""Load a demo church for the embedded default. Safe to run again: it changes nothing the second time."""

from django.core.management.base import BaseCommand
from django.db import transaction

from churches import services
from churches.models import Church, User

DEMO_EMAIL = "demo@koinonia.example"
DEMO_PASSWORD = "grace-and-peace-2026"
DEMO_CHURCH = "Grace Community Church"


class Command(BaseCommand):
    help = "Create (once) a demo church with an owner login, and print the login."

    @transaction.atomic
    def handle(self, *args, **options):
        user = User.objects.filter(email=DEMO_EMAIL).first()
        church = Church.objects.filter(staff_memberships__user=user).first() if user else None
        if church is None:
            church, user = services.church_signup(
                church_name=DEMO_CHURCH,
                timezone_name="America/Chicago",
                owner_name="Pastor Demo",
                email=DEMO_EMAIL,
                password=DEMO_PASSWORD,
            )
        self.seed_church(church=church, owner=user)
        line = "=" * 64
        self.stdout.write(
            f"\n{line}\n  Koinonia demo is ready: http://127.0.0.1:8000/\n"
            f"  Sign in as {DEMO_EMAIL} / {DEMO_PASSWORD}\n{line}\n"
        )

    def seed_church(self, *, church: Church, owner: User) -> None:
        """Extension point: later features add demo members, numbers and messages here."""
