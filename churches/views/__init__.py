"""Staff pages of the churches app, one module per area: ``accounts`` (sign-up, sign-in, invitations,
password reset, church switching), ``church_settings`` (the church's settings and API keys), ``team``,
``members`` (directory and CSV export), ``member_import`` (CSV import), ``branches`` and ``groups``.
``churches/urls.py`` maps them."""
