"""Vibes: a self-hostable backend for a personal journal with reminders."""

__version__ = "0.1.0"
