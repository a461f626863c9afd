"""CLI commands by area: each module defines `register(app: typer.Typer) -> None`."""
