"""The ``aiotwin`` typer app (core tools: scenes, models, netem) and its error table."""

from __future__ import annotations

import typer

from aiotwin.clitools import CORE_ERROR_CODES, Guard, make_app

guarded = Guard("aiotwin", CORE_ERROR_CODES)
app = make_app("aiotwin", "aiotwin core tools: render synthetic scenes, build model bundles, emulate links.", guarded)
scenes_app = typer.Typer(help="Synthetic traffic scenes.", no_args_is_help=True)
models_app = typer.Typer(help="Model bundles: build, inspect.", no_args_is_help=True)
app.add_typer(scenes_app, name="scenes")
app.add_typer(models_app, name="models")

__all__ = ["app", "guarded", "models_app", "scenes_app"]
