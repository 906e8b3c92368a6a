"""The one exception type users see.

Every failure caused by input (a bad file, an unknown operator, a file with no hidden original)
raises :class:`RestorableError` with a one-line message; the CLI prints it without a traceback.
"""


class RestorableError(Exception):
    """A user-facing error whose message is one line that says what to do."""
