"""``python -m territory_opt`` runs the CLI (same as the ``territory-opt`` command)."""

from .cli import app

app(prog_name="territory-opt")
