"""Models for conversations (filled by its issue)."""
