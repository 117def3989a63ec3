"""RedGrid's web layer: the Starlette app, settings, the map page and the CLI."""
