"""Writes for the churches app, split by area: accounts (church, staff, API keys, audit), directory
(branches, groups, members one at a time), consent (the only writer of ``sms_status``), upsert (members
in bulk: the CSV import and the API) and member_fields (normalisation shared by all of them). Import
from here: ``from churches import services``."""

from churches.services.accounts import *  # noqa: F403
from churches.services.accounts import __all__ as _accounts_all
from churches.services.consent import *  # noqa: F403
from churches.services.consent import __all__ as _consent_all
from churches.services.directory import *  # noqa: F403
from churches.services.directory import __all__ as _directory_all
from churches.services.member_fields import *  # noqa: F403
from churches.services.member_fields import __all__ as _member_fields_all
from churches.services.upsert import *  # noqa: F403
from churches.services.upsert import __all__ as _upsert_all

__all__ = [*_accounts_all, *_consent_all, *_directory_all, *_member_fields_all, *_upsert_all]
