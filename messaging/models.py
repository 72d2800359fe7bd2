"""Models for messaging (filled by its issue)."""
