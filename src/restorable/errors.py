"""The one exception type users see.

Every failure caused by input (a bad file, an unknown operator, a file with no hidden original)
raises :class:`RestorableError` with a one-line message; the CLI prints it without a traceback.
"""


class RestorableError(Exception):
    """A user-facing error whose message is one line that says what to do."""


class NoModelFits(RestorableError):
    """No model's signal was found in the pixels of a file without a record.

    The fact and what to do are kept apart because what to do depends on where the user is: the
    CLI says "pass --model", the web page "choose the model".
    """

    def __init__(self, fact: str, remedy: str = "pass --model") -> None:
        self.fact = fact
        super().__init__(f"{fact}; {remedy} if you know which model made it")

    def told(self, remedy: str) -> "NoModelFits":
        """The same error, telling the user ``remedy`` instead."""
        return NoModelFits(self.fact, remedy)
