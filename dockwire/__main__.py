"""`python -m dockwire` runs the CLI."""

from dockwire.cli import main

main()
