"""The command line: parse options, call one core function, render its result.

This is the single error boundary: every ReconError becomes a one-line message and its exit
code; a traceback is shown only with --debug.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from recon import __version__
from recon.config import SEVERITIES, load_settings
from recon.errors import EXIT_ERROR, EXIT_INTERRUPTED, ReconError

_STAGES = {"load": "Loading files", "match": "Matching", "classify": "Classifying"}


def _err_console() -> Console:
    return Console(stderr=True, highlight=False)


def _boundary(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user errors into a message and an exit code; keep tracebacks for --debug."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = kwargs.get("debug", False)
        try:
            return fn(*args, **kwargs)
        except ReconError as exc:
            if debug:
                raise
            _err_console().print(f"[bold red]recon: error:[/] {exc}", markup=True, soft_wrap=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            _err_console().print("recon: interrupted")
            sys.exit(EXIT_INTERRUPTED)
        except Exception as exc:  # a bug, not a user error: say so in one line
            if debug:
                raise
            _err_console().print(
                f"recon: internal error: {type(exc).__name__}: {exc} "
                "(run again with --debug for the traceback, and please report it)",
                soft_wrap=True,
                markup=False,
            )
            sys.exit(EXIT_ERROR)

    return wrapper


def output_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options every command that prints shares."""
    fn = click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")(fn)
    fn = click.option("--debug", is_flag=True, help="Show tracebacks for errors.")(fn)
    return fn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="recon")
def cli() -> None:
    """Reconcile POS terminal records against bank and acquirer settlement files."""


@cli.command()
@click.option("--pos", "pos", type=click.Path(dir_okay=False), help="POS export (CSV or Parquet).")
@click.option("--bank", "bank", type=click.Path(dir_okay=False), help="Bank settlement file.")
@click.option("--pos-profile", help="Profile NAME or PATH.toml for the POS file's layout.")
@click.option("--bank-profile", help="Profile NAME or PATH.toml for the bank file's layout.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Run config TOML (inputs, profiles, windows, severities).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="Output folder (default: ./recon-YYYYMMDD-HHMMSS).",
)
@click.option(
    "--fail-on",
    type=click.Choice(SEVERITIES),
    default=None,
    help="Exit 1 when an item at or above this severity is found (default: low).",
)
@click.option("--top", default=10, show_default=True, help="Items to list in the summary.")
@output_options
@_boundary
def run(
    pos: str | None,
    bank: str | None,
    pos_profile: str | None,
    bank_profile: str | None,
    config_path: str | None,
    out: str | None,
    fail_on: str | None,
    top: int,
    quiet: bool,
    debug: bool,
) -> None:
    """Reconcile a POS export against a bank settlement file and write the report files."""
    from recon.pipeline import reconcile
    from recon.report.files import write_outputs
    from recon.report.terminal import render_summary

    settings = load_settings(config_path).with_overrides(
        pos=pos,
        bank=bank,
        pos_profile=pos_profile,
        bank_profile=bank_profile,
        out=out,
        fail_on=fail_on,
    )
    out_dir = Path(settings.out or f"recon-{datetime.now():%Y%m%d-%H%M%S}")
    err = _err_console()
    show_progress = not quiet and err.is_terminal
    if show_progress:
        with err.status("Starting…") as status:
            result = reconcile(settings, on_stage=lambda s: status.update(_STAGES.get(s, s)))
            status.update("Writing reports")
            write_outputs(result, out_dir)
    else:
        result = reconcile(settings)
        write_outputs(result, out_dir)
    if not quiet:
        render_summary(result, Console(highlight=False), out_dir, top=top)
    sys.exit(result.exit_code())


@cli.command()
@click.option("--rows", default=1000, show_default=True, help="POS sales to generate.")
@click.option("--seed", default=1, show_default=True, help="Random seed (same seed, same files).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option(
    "--references/--no-references",
    default=True,
    help="Whether the bank side carries references.",
)
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default="csv")
@output_options
@_boundary
def sample(
    rows: int, seed: int, out: str, references: bool, fmt: str, quiet: bool, debug: bool
) -> None:
    """Write a synthetic shop day (POS, bank and the list of injected faults)."""
    from recon.generate import generate_day, write_day

    day = generate_day(rows, seed, with_references=references)
    paths = write_day(day, Path(out), fmt)
    if not quiet:
        con = Console(highlight=False)
        for name, path in paths.items():
            con.print(f"{name}: {path}")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
