"""The package version (one place; ``territory_opt.__version__`` re-exports it)."""

__version__ = "0.1.0"
