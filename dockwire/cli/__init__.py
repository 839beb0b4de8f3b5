"""The `dockwire` command line: parses arguments and dispatches to the core, which never imports click."""

from dockwire.cli.main import main

__all__ = ["main"]
