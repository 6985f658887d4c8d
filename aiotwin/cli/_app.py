"""The ``aiotwin`` typer app (core tools: scenes, models, demo) and its error table."""

from __future__ import annotations

import typer

from aiotwin.clitools import CORE_ERROR_CODES, Guard, setup_logging

app = typer.Typer(
    name="aiotwin",
    help="aiotwin core tools: render synthetic scenes, build model bundles, run the demo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
scenes_app = typer.Typer(help="Synthetic traffic scenes.", no_args_is_help=True)
models_app = typer.Typer(help="Model bundles: build, inspect.", no_args_is_help=True)
app.add_typer(scenes_app, name="scenes")
app.add_typer(models_app, name="models")

guarded = Guard("aiotwin", CORE_ERROR_CODES)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logs and tracebacks on errors."),
) -> None:
    guarded.verbose = verbose
    setup_logging(verbose)


__all__ = ["app", "guarded", "models_app", "scenes_app"]
