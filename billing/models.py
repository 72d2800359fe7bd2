"""Models for billing (filled by its issue)."""
