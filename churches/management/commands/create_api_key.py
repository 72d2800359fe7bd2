from datetime import date

from django.core.management.base import BaseCommand, CommandError

from churches import services
from churches.models import Church, Role
from koinonia.api import scopes as api_scopes
from koinonia.exceptions import BusinessRuleError


class Command(BaseCommand):
    help = (
        "Create an API key for a church and print it once. Without --scopes the key has every scope "
        "(everything its role allows)."
    )

    def add_arguments(self, parser):
        parser.add_argument("church_slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--role", default=Role.ADMIN, choices=[Role.ADMIN, Role.STAFF, Role.VIEWER])
        parser.add_argument(
            "--scopes",
            default="",
            help=f"Comma-separated, e.g. members:read,messages:send. Known: {', '.join(api_scopes.SCOPES)}.",
        )
        parser.add_argument(
            "--expires", default="", help="YYYY-MM-DD: the key works through that day (the church's time zone)."
        )

    def handle(self, *args, church_slug, name, role, scopes, expires, **options):
        church = Church.objects.filter(slug=church_slug).first()
        if church is None:
            raise CommandError(f"No church with slug {church_slug!r}.")
        expires_at = None
        if expires:
            try:
                day = date.fromisoformat(expires)
            except ValueError:
                raise CommandError(f"--expires {expires!r} is not a date like 2026-12-31.") from None
            expires_at = services.api_key_expiry_from_date(church=church, day=day)
        try:
            api_key, raw_key = services.api_key_create(
                church=church,
                acting_user=None,
                name=name,
                role=role,
                scopes=api_scopes.parse_scopes(scopes),
                expires_at=expires_at,
            )
        except BusinessRuleError as exc:
            raise CommandError(exc.message) from None
        access = ", ".join(api_key.scopes) or "all scopes"
        until = f", works through {expires} ({church.timezone})" if api_key.expires_at else ""
        self.stderr.write(f"API key “{api_key.name}” for {church.name} ({access}{until}; shown once; store it safely):")
        self.stdout.write(raw_key)
