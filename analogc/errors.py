"""Errors analogc reports to the user (the CLI prints the message and exits with status 2)."""


class AnalogcError(Exception):
    """Bad user input: a one-line message naming the file/node/field and what was expected."""


def first_line(e: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (its type name when empty), at most ``limit``
    characters: a library's multi-line error as one line of an :class:`AnalogcError`."""
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:limit]
