"""Load a demo church for the embedded default. Safe to run again: it changes nothing the second time.

It seeds every app (the directory, then messaging's number and recurring message), so it lives in the
project package, like the dashboard: ``churches`` imports none of the apps built on it."""

from django.core.management.base import BaseCommand
from django.db import transaction

from churches import services
from churches.crypto import phone_hash
from churches.models import Branch, Church, Group, Member, User
from koinonia.exceptions import BusinessRuleError
from messaging.demo import seed_demo_messaging

DEMO_EMAIL = "demo@koinonia.example"
DEMO_PASSWORD = "grace-and-peace-2026"
DEMO_CHURCH = "Grace Community Church"
DEMO_BRANCHES = ["Downtown", "Northside"]
DEMO_GROUPS = [("Youth", "YOUTH", "Downtown"), ("Choir", "", ""), ("Volunteers", "", "Northside")]
DEMO_PEOPLE = [
    ("Abigail", "Adams"), ("Benjamin", "Brooks"), ("Chloe", "Carter"), ("Daniel", "Diaz"), ("Eleanor", "Evans"),
    ("Felix", "Foster"), ("Grace", "Garcia"), ("Henry", "Hughes"), ("Isabel", "Ingram"), ("Jonah", "James"),
    ("Keira", "Kim"), ("Lucas", "Lopez"), ("Miriam", "Morgan"), ("Nathan", "Nguyen"), ("Olivia", "Ortiz"),
    ("Peter", "Price"), ("Queenie", "Quinn"), ("Ruth", "Reyes"), ("Samuel", "Smith"), ("Tabitha", "Turner"),
    ("Uriah", "Underwood"), ("Violet", "Vasquez"), ("Wesley", "Walker"), ("Ximena", "Xu"), ("Yusuf", "Young"),
    ("Zoe", "Zimmerman"), ("Aaron", "Bennett"), ("Bethany", "Cole"), ("Caleb", "Dunn"), ("Deborah", "Ellis"),
    ("Elijah", "Fisher"), ("Faith", "Gray"), ("Gideon", "Hayes"), ("Hannah", "Irwin"), ("Isaac", "Jensen"),
    ("Joy", "Kelly"), ("Levi", "Lambert"), ("Lydia", "Mason"), ("Micah", "Nash"), ("Naomi", "Owens"),
]  # fmt: skip


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
        self.seed_directory(church=church, owner=owner)
        self.seed_messaging(church=church, owner=owner)

    def seed_messaging(self, *, church: Church, owner: User) -> None:
        """A console sending number and a recurring message firing every two minutes (messaging's part)."""
        for line in seed_demo_messaging(church=church, owner=owner):
            self.stdout.write(line)

    def seed_directory(self, *, church: Church, owner: User) -> None:
        """Two branches, three groups (Youth joins by texting YOUTH) and 40 members on fictional
        +1 312-555-01xx numbers; anything already there is left alone."""
        branches = {b.name: b for b in Branch.objects.for_church(church).filter(name__in=DEMO_BRANCHES)}
        for name in DEMO_BRANCHES:
            if name not in branches:
                try:
                    branches[name] = services.branch_create(church=church, acting_user=owner, name=name)
                except BusinessRuleError as exc:  # e.g. the plan allows fewer branches
                    self.stdout.write(f"Skipped demo branch {name}: {exc.message}")
        groups = {g.name: g for g in Group.objects.for_church(church).filter(name__in=[g[0] for g in DEMO_GROUPS])}
        for name, keyword, branch_name in DEMO_GROUPS:
            if name not in groups:
                groups[name] = services.group_create(
                    church=church, acting_user=owner, name=name, keyword=keyword, branch=branches.get(branch_name)
                )
        phones = [f"+1312555{100 + i:04d}" for i in range(len(DEMO_PEOPLE))]
        existing = set(
            Member.objects.for_church(church)
            .filter(phone_hash__in=[phone_hash(p) for p in phones])
            .values_list("phone_hash", flat=True)
        )
        group_list = list(groups.values())
        branch_list = list(branches.values())
        for i, ((first, last), phone) in enumerate(zip(DEMO_PEOPLE, phones, strict=True)):
            if phone_hash(phone) in existing:
                continue
            try:
                member = services.member_create(
                    church=church,
                    acting_user=owner,
                    phone=phone,
                    first_name=first,
                    last_name=last,
                    email=f"{first.lower()}.{last.lower()}@example.org",
                    branch=branch_list[i % len(branch_list)] if branch_list and i % 3 else None,
                    group_ids=[g.pk for j, g in enumerate(group_list) if (i + j) % 3 == 0],
                    consent="" if i % 10 == 9 else "Demo data: signed a connect card",
                )
            except BusinessRuleError as exc:  # e.g. the plan's member limit
                self.stdout.write(f"Stopped adding demo members: {exc.message}")
                break
            if i == 4:  # one member who texted STOP, to show what an opt-out looks like
                services.consent_record(church=church, member=member, kind="opt_out", source="keyword", raw_text="STOP")
