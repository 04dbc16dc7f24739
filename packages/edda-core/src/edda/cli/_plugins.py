"""Subcommands contributed by installed packages through the ``edda.cli`` entry-point group.

Entry points are listed once without importing anything; only the chosen subcommand's module is imported, and a
failure to import or configure it becomes a one-line error for that subcommand alone.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, cast

from edda.cli._common import EXIT_FAILED, CliError, Handler

__all__ = ["GROUP", "Plugin", "find_plugins"]

GROUP = "edda.cli"
_SUMMARIES = {"viewer": "the web viewer: see, start and operate workflows in a browser"}
_BUILT_IN = frozenset({"list", "show", "history", "cancel", "resume", "outbox", "migrate", "replay"})


@dataclass(frozen=True)
class Plugin:
    """One ``edda.cli`` entry point."""

    name: str
    entry_point: EntryPoint

    @property
    def distribution(self) -> str:
        dist = self.entry_point.dist
        return dist.name if dist is not None else "an installed package"

    @property
    def summary(self) -> str:
        return _SUMMARIES.get(self.name, f"the {self.name} subcommand")

    def load(self) -> Any:
        """The plugin's ``configure(parser) -> handler``; a broken plugin raises :class:`CliError`."""
        try:
            configure = self.entry_point.load()
        except Exception as exc:
            raise CliError(
                f"the `{self.name}` subcommand (from {self.distribution}) failed to load: {type(exc).__name__}: {exc}",
                EXIT_FAILED,
            ) from None

        def configured(parser: argparse.ArgumentParser) -> Handler:
            try:
                handler = configure(parser)
            except Exception as exc:
                raise CliError(f"the `{self.name}` subcommand failed to set up: {exc}", EXIT_FAILED) from None
            if not callable(handler):
                raise CliError(f"the `{self.name}` subcommand's configure() returned no handler", EXIT_FAILED)
            return cast(Handler, handler)

        return configured


def find_plugins() -> dict[str, Plugin]:
    """Installed ``edda.cli`` entry points by name (built-in names cannot be taken over)."""
    return {ep.name: Plugin(ep.name, ep) for ep in entry_points(group=GROUP) if ep.name not in _BUILT_IN}
