"""The one exception type users see.

Every failure a user can cause or fix (bad input, a missing model, an unreachable server) is raised as
a BotError whose message says what to do; the CLI and UI print it as one line instead of a traceback.
"""


class BotError(Exception):
    """A problem the user can fix; the message says how."""


class Timeout(BotError):
    """The model took longer than its limit: one question's problem, not a whole run's."""
