"""Compliance keywords (providers.md §5): the union of CTIA, FCC, Telnyx and Twilio lists. Group
keywords may not reuse them; the inbound classifier (conversations) uses the same sets."""

OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPT OUT", "OPTOUT"}
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
RESERVED_KEYWORDS = frozenset(k.replace(" ", "") for k in OPT_OUT_KEYWORDS | OPT_IN_KEYWORDS | HELP_KEYWORDS)
