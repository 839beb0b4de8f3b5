"""Errors that reach the user as one line."""


class DockwireError(Exception):
    """An environment or input problem, reported in one line with exit code 2."""
