"""Errors analogc reports to the user (the CLI prints the message and exits with status 2)."""


class AnalogcError(Exception):
    """Bad user input: a one-line message naming the file/node/field and what was expected."""
