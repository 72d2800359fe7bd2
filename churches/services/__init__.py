"""Writes for the churches app, split by area: accounts (church, staff, API keys, audit) and directory
(branches, groups, members, consent). Import from here: ``from churches import services``."""

from churches.services.accounts import *  # noqa: F403
from churches.services.accounts import __all__ as _accounts_all
from churches.services.directory import *  # noqa: F403
from churches.services.directory import __all__ as _directory_all

__all__ = [*_accounts_all, *_directory_all]
