"""What every console script shares: logging set-up and the error → exit-code guard.

``main()`` of each role catches the package base error, prints one line, and exits with the code
from the exit-code registry; the traceback shows only with ``-v``.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Sequence

import typer

from aiotwin._exceptions import AiotwinError, BackendMissing, BundleError, ConfigError, SceneError
from aiotwin.exitcodes import ExitCode

ErrorTable = Sequence[tuple[type[BaseException], ExitCode]]

# Core errors; roles put their own (more specific) entries in front.
CORE_ERROR_CODES: ErrorTable = (
    (ConfigError, ExitCode.CONFIG_INVALID),
    (BackendMissing, ExitCode.BACKEND_MISSING),
    (BundleError, ExitCode.DEVICE_BUNDLE_INVALID),
    (SceneError, ExitCode.SCENE_INVALID),
)


def exit_code_for(exc: BaseException, table: ErrorTable) -> ExitCode:
    """First matching class in ``table`` decides; unknown errors are FAILURE."""
    for cls, code in table:
        if isinstance(exc, cls):
            return code
    return ExitCode.FAILURE


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


class Guard:
    """Runs verb bodies of one console script with its error table and verbosity."""

    def __init__(self, name: str, table: ErrorTable) -> None:
        self.name = name
        self.table = table
        self.verbose = False

    def __call__(self, fn: Callable[[], int | None]) -> None:
        try:
            code = fn()
        except AiotwinError as exc:
            if self.verbose:
                logging.getLogger(self.name).exception("failed")
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(int(exit_code_for(exc, self.table))) from None
        raise typer.Exit(int(code or 0))


def make_app(name: str, help_text: str, guard: Guard) -> typer.Typer:
    """A console script's typer app with the shared ``-v/--verbose`` root option wired to ``guard``."""
    app = typer.Typer(
        name=name, help=help_text, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False
    )

    @app.callback()
    def _root(
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logs and tracebacks on errors."),
    ) -> None:
        guard.verbose = verbose
        setup_logging(verbose)

    return app


def register_verbs(package: str, verbs: Sequence[str]) -> None:
    """Import ``package.<verb>`` for each verb; each module registers itself on its app."""
    for verb in verbs:
        importlib.import_module(f"{package}.{verb}")


__all__ = ["CORE_ERROR_CODES", "ErrorTable", "Guard", "exit_code_for", "make_app", "register_verbs", "setup_logging"]
