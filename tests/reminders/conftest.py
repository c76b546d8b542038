"""The reminders tests run dispatchers too: theirs are closed like the events tests'."""

from tests.events.conftest import close_dispatchers

__all__ = ["close_dispatchers"]
