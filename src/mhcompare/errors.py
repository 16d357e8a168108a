"""Errors a user can act on: the message names what is wrong and what would be right.

run.py prints such an error as one message and exits with status 1, without a traceback (it would
say "the program crashed" where the input was at fault); HYDRA_FULL_ERROR=1 shows the traceback
as well. Every other exception keeps its traceback: that one is ours to fix.
"""


class UserError(Exception):
    pass


class ConfigError(UserError, ValueError):
    """A setting that cannot work, named with the value that would."""
