"""The parser class of ``mlops``: a command's flags can wait until it is chosen."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

# What ``add_subparsers`` returns (argparse has no public name for it); each
# command group adds its commands to it.
Commands = argparse._SubParsersAction


class CommandParser(argparse.ArgumentParser):
    """A parser whose flags may be declared only when its command is chosen.

    A command whose flags are declared by a heavy module (the payload sink) defers
    them, so parsing another command, or the top-level ``--help``, never imports
    that module. Subcommand parsers inherit this class from the top-level parser.
    """

    _deferred: Callable[[argparse.ArgumentParser], None] | None = None

    def defer_arguments(self, add: Callable[[argparse.ArgumentParser], None]) -> None:
        """Declares this parser's flags with ``add(self)`` when it is first used.

        Args:
            add: Adds the flags to the parser it is given.
        """
        self._deferred = add

    def _declare_deferred(self) -> None:
        add, self._deferred = self._deferred, None
        if add is not None:
            add(self)

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        self._declare_deferred()
        return super().parse_known_args(*args, **kwargs)

    def format_usage(self) -> str:
        self._declare_deferred()
        return super().format_usage()

    def format_help(self) -> str:
        self._declare_deferred()
        return super().format_help()
