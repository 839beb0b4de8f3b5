"""dockwire: a terminal dashboard and network inspector for a Docker host."""


def __getattr__(name: str) -> str:
    """`dockwire.__version__`, read from the installed metadata only when asked (it costs an import)."""
    if name != "__version__":
        raise AttributeError(f"module 'dockwire' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dockwire")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"
