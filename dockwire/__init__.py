"""dockwire: a terminal dashboard and network inspector for a Docker host."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dockwire")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
