"""The monitoring centre's alert console (web page, JSON, live updates, operator sign-in)."""

from services.console.app import Actions, Console, create_console

__all__ = ["Actions", "Console", "create_console"]
