"""The command line: parse options, call one core function, render its result.

This is the single error boundary: every ReconError becomes a one-line message and its exit
code; a traceback is shown only with --debug.
"""

from __future__ import annotations

import errno
import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from recon import __version__
from recon.config import SEVERITIES, Settings, load_settings
from recon.errors import EXIT_ERROR, EXIT_FOUND, EXIT_INTERRUPTED, ReconError, UsageError
from recon.i18n import t

_STAGES = {"load": "Loading files", "match": "Matching", "classify": "Classifying"}
DEFAULT_STATE = "__default__"


def _err_console() -> Console:
    return Console(stderr=True, highlight=False)


def _reader_gone(exc: Exception) -> bool:
    """A write to a pipe whose reader closed it: Python's BrokenPipeError, or polars' OSError,
    which says "Broken pipe (os error 32)" without an errno."""
    return isinstance(exc, OSError) and (exc.errno == errno.EPIPE or "os error 32" in str(exc))


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
            # The message is text, not markup: paths and keys may hold brackets ([spark]).
            _err_console().print(
                f"[bold red]recon: error:[/] {escape(str(exc))}", markup=True, soft_wrap=True
            )
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            _err_console().print("recon: interrupted")
            sys.exit(EXIT_INTERRUPTED)
        except Exception as exc:  # a bug, not a user error: say so in one line
            if _reader_gone(exc):
                # The reader of the output went away (`| head`): click ends the command quietly.
                raise BrokenPipeError(errno.EPIPE, "the reader of the output went away") from None
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


def lang_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--lang: the language of the words in reports (default: from LC_ALL/LC_MESSAGES/LANG)."""
    return click.option(
        "--lang",
        type=click.Choice(["en", "zh"]),
        default=None,
        help="Language of report text: en or zh (default: the config's lang, else zh when "
        "LC_ALL, LC_MESSAGES or LANG starts with zh, else en).",
    )(fn)


def _settings(config_path: str | None, lang: str | None, **overrides: Any) -> Settings:
    """The config file, overridden by the command line, with the report language settled."""
    settings = load_settings(config_path).with_overrides(**overrides)
    return replace(settings, lang=_lang(lang, settings))


def _lang(option: str | None, settings: Settings) -> str:
    """--lang if given; else the config's lang if it sets one; else the locale (zh or en)."""
    if option:
        return option
    if settings.lang_set:
        return settings.lang
    from recon.i18n import env_lang

    return env_lang()


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
@click.option(
    "--pos",
    "pos",
    help="POS export (CSV, Parquet...); with --engine streaming/spark also a folder or a glob.",
)
@click.option("--bank", "bank", help="Bank settlement file (a folder or glob as for --pos).")
@click.option("--pos-profile", help="Profile NAME or PATH.toml for the POS file's layout.")
@click.option("--bank-profile", help="Profile NAME or PATH.toml for the bank file's layout.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Run config TOML (inputs, profiles, windows, severities).",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "streaming", "spark"]),
    default="local",
    show_default=True,
    help="local: the whole day in memory; streaming: merchant buckets on disk, one at a time "
    "(days larger than memory); spark: the buckets run in Spark (pip install 'recon[spark]').",
)
@click.option(
    "--partitions",
    type=click.IntRange(1, 100_000),
    default=None,
    help="Merchant buckets for --engine streaming/spark (default: from --memory-limit, else 16).",
)
@click.option(
    "--memory-limit",
    default=None,
    help="Peak memory to aim for with --engine streaming, e.g. 8G: sets the bucket count.",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for the canonical buckets of --engine streaming/spark (default: the system's "
    "temporary folder; on a Spark cluster, shared storage every node mounts).",
)
@click.option(
    "--spark-master",
    default=None,
    help="Spark master URL for --engine spark (default: the session's, else local[*]).",
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
@click.option(
    "--state",
    "state",
    is_flag=False,
    flag_value=DEFAULT_STATE,
    default=None,
    help="Carry open items across runs in this SQLite state file (--state alone: "
    "the default file in the user's data folder).",
)
@click.option("--day", help="The business day of a --state run (default: the latest sale's day).")
@click.option(
    "--lock-timeout",
    default=0.0,
    show_default=True,
    help="Seconds to wait for another run that holds the state file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the JSON summary on stdout.")
@lang_option
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
    state: str | None,
    day: str | None,
    lock_timeout: float,
    as_json: bool,
    engine: str,
    partitions: int | None,
    memory_limit: str | None,
    work_dir: str | None,
    spark_master: str | None,
    lang: str | None,
    quiet: bool,
    debug: bool,
) -> None:
    """Reconcile a POS export against a bank settlement file and write the report files."""
    from recon.report.terminal import render_summary

    settings = _settings(
        config_path,
        lang,
        pos=pos,
        bank=bank,
        pos_profile=pos_profile,
        bank_profile=bank_profile,
        out=out,
        fail_on=fail_on,
        state=state,
    )
    out_dir = Path(settings.out or f"recon-{datetime.now():%Y%m%d-%H%M%S}")
    scale: _Engine | None = None
    if engine != "local":
        if settings.state and engine == "spark":
            raise UsageError("--state works with --engine local or streaming")
        from recon.partitioned import parse_size

        limit = parse_size(memory_limit) if memory_limit else None
        scale = _Engine(engine, partitions, limit, spark_master, work_dir)
    err = _err_console()
    if not quiet and not as_json and err.is_terminal:
        with err.status("Starting…") as status:
            result = _reconcile(
                settings,
                day,
                lock_timeout,
                out_dir,
                lambda s: status.update(_STAGES.get(s, s)),
                scale,
            )
    else:
        result = _reconcile(settings, day, lock_timeout, out_dir, None, scale)
    if as_json:
        click.echo(json.dumps(result.summary, indent=2, ensure_ascii=False))
    elif not quiet:
        render_summary(result, Console(highlight=False), out_dir, top=top)
    if settings.notify_command:
        from recon.notify import notify

        warning = notify(result, settings)
        if warning:
            _err_console().print(f"recon: warning: {warning}", markup=False)
    sys.exit(result.exit_code())


@dataclass(frozen=True)
class _Engine:
    """--engine streaming/spark and its options."""

    name: str
    partitions: int | None
    memory_limit: int | None
    spark_master: str | None
    work_dir: str | None


def _reconcile_bucketed(settings: Settings, engine: _Engine, out_dir: Path, on_stage):
    from recon.partitioned import cleanup, reconcile_partitioned
    from recon.report.files import write_outputs

    runner = None
    if engine.name == "spark":
        from recon.spark_engine import spark_runner

        runner = spark_runner(engine.spark_master)
    result, matches, work = reconcile_partitioned(
        settings,
        buckets=engine.partitions,
        memory_limit=engine.memory_limit,
        work_dir=Path(engine.work_dir) if engine.work_dir else None,
        on_stage=on_stage,
        run_buckets=runner,
    )
    try:
        write_outputs(result, out_dir, matches=matches)
    finally:
        cleanup(work)
    return result


def _reconcile(settings, day, lock_timeout, out_dir, on_stage, engine: _Engine | None = None):
    """One run, with or without the state store; report files are written before the store
    records the run, so a crash in between never marks unreported items as reported."""
    from recon.pipeline import reconcile
    from recon.report.files import write_outputs

    if engine is not None and not settings.state:
        return _reconcile_bucketed(settings, engine, out_dir, on_stage)
    if not settings.state:
        result = reconcile(settings, on_stage=on_stage)
        write_outputs(result, out_dir)
        return result
    from recon.carry import reconcile_with_state
    from recon.store import Store

    with Store(_state_path(settings.state)) as store, store.lock(lock_timeout):
        if engine is None:
            return reconcile_with_state(
                settings, store, day, on_stage, write=lambda r: write_outputs(r, out_dir)
            )
        from recon.carry_buckets import reconcile_buckets_with_state

        return reconcile_buckets_with_state(
            settings,
            store,
            day,
            buckets=engine.partitions,
            memory_limit=engine.memory_limit,
            work_dir=Path(engine.work_dir) if engine.work_dir else None,
            on_stage=on_stage,
            write=lambda r, matches: write_outputs(r, out_dir, matches=matches),
        )


def _state_path(value: str | None) -> Path:
    from recon.store import default_path

    return default_path() if value in (None, DEFAULT_STATE) else Path(value)


def state_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--state",
        "state",
        default=None,
        help="The SQLite state file (default: the one in the user's data folder).",
    )(fn)


@cli.command()
@state_option
@click.option("--limit", default=20, show_default=True, help="How many runs to list.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@output_options
@_boundary
def history(state: str | None, limit: int, as_json: bool, quiet: bool, debug: bool) -> None:
    """List past scheduled runs recorded in the state file."""
    from recon.store import Store

    with Store(_state_path(state)) as store:
        runs = store.history(limit)
    if as_json:
        click.echo(json.dumps(runs, indent=2, ensure_ascii=False))
        return
    if quiet:
        return
    from rich.table import Table

    table = Table("run", "day", "finished", "exit", "new", "carried", "closed", "POS file")
    for r in runs:
        st = r["counts"].get("state", {})
        day = r["day"] + (" (superseded)" if r["superseded_by"] else "")
        table.add_row(
            str(r["run_id"]),
            day,
            r["finished_at"],
            str(r["exit_code"]),
            str(st.get("new", "")),
            str(st.get("carried", "")),
            str(st.get("closed", "")),
            r["pos_path"] or "",
        )
    Console(highlight=False).print(table if runs else "No runs recorded yet.")


@cli.command("open-items")
@state_option
@click.option("--type", "types", multiple=True, help="Only this discrepancy type (repeatable).")
@click.option("--merchant", help="Only this merchant.")
@click.option("--min-age", type=int, default=0, help="Only items at least this many days old.")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="List at most this many items in the table, oldest first (0: all; --json lists all).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@output_options
@_boundary
def open_items(
    state: str | None,
    types: tuple[str, ...],
    merchant: str | None,
    min_age: int,
    limit: int,
    as_json: bool,
    quiet: bool,
    debug: bool,
) -> None:
    """List the items still open after the latest run (not resolved by hand)."""
    import polars as pl

    from recon.store import Store

    with Store(_state_path(state)) as store:
        frame = store.open_items(store.latest()).drop("rec_keys")
    wanted = pl.col("age_days") >= min_age
    if types:
        wanted &= pl.col("type").is_in(list(types))
    if merchant is not None:
        wanted &= pl.col("merchant") == merchant
    frame = frame.filter(wanted)
    if not as_json and limit:
        # (a table of a backlog of 100,000 items takes minutes to draw and nobody reads it)
        total, frame = frame.height, frame.head(limit)
    else:
        total = frame.height
    from recon.carry import item_refs

    frame = frame.with_columns(item_ref=item_refs(pl.col("item_key"))).drop("item_key")
    if as_json:
        # Written by polars, compact: 900,000 open items as Python dicts and indented text
        # took 28 s and 5.9 GB.
        sys.stdout.flush()
        frame.write_json(sys.stdout.buffer)
        sys.stdout.buffer.write(b"\n")
        return
    if quiet:
        return
    rows = frame.to_dicts()
    from rich.table import Table

    table = Table("item", "type", "severity", "age", "status", "POS", "bank", "difference")
    for r in rows:
        table.add_row(
            r["item_ref"],
            r["type"],
            r["severity"],
            f"{r['age_days']} d",
            r["status"],
            r["pos_ids"] or "",
            r["bank_ids"] or "",
            f"{r['difference'] or ''} {r['currency'] or ''}".strip(),
        )
    console = Console(highlight=False)
    console.print(table if rows else "No open items.")
    if total > len(rows):
        console.print(
            f"The {len(rows):,} oldest of {total:,} open items: --limit 0 lists them all, "
            "--json with every field."
        )


@cli.command()
@click.argument("item")
@click.option("--note", required=True, help="Why it is resolved (kept with who and when).")
@state_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@output_options
@_boundary
def resolve(
    item: str, note: str, state: str | None, as_json: bool, quiet: bool, debug: bool
) -> None:
    """Close an open item by hand (ITEM: its item ref, e.g. K1a2b3c4d5e6f)."""
    from recon.store import Store

    with Store(_state_path(state)) as store:
        key = _key_for_ref(store, item)
        with store.lock(0):
            record = store.resolve(key, note)
    record["item_ref"] = _item_ref(record.pop("item_key"))
    if as_json:
        click.echo(json.dumps(record, indent=2, ensure_ascii=False))
    elif not quiet:
        click.echo(f"Resolved {record['item_ref']} ({record['type']}) by {record['resolved_by']}.")


def _item_ref(key: str) -> str:
    from recon.carry import item_ref

    return item_ref(key)


def _key_for_ref(store, ref: str) -> str:
    import polars as pl

    from recon.carry import item_refs

    # (the items' state is enough: their texts are not read)
    keys = store.open_items(store.latest(), texts=False)["item_key"]
    refs = keys.to_frame().select(item_refs(pl.col("item_key"))).to_series()
    found = keys.filter((refs == ref) | (keys == ref))
    return found[0] if found.len() else ref


@cli.command()
@click.option("--rows", default=1000, show_default=True, help="POS sales to generate.")
@click.option("--seed", default=1, show_default=True, help="Random seed (same seed, same files).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option(
    "--references/--no-references",
    default=True,
    help="Whether the bank side carries references.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "csv"]),
    default="csv",
    show_default=True,
    help="File format of the written day.",
)
@click.option(
    "--settlement",
    type=click.Choice(["per-sale", "daily", "batch", "month", "month-pooled"]),
    default="per-sale",
    show_default=True,
    help="How the bank pays: one row per sale, or one net deposit per merchant and day "
    "(daily) or per batch number (batch); month: 30 days of 20 merchants with their own fee "
    "rates, refunds, weekends and holidays, one deposit per business day (month) or per pay "
    "date (month-pooled). All but per-sale also write settlement.toml.",
)
@output_options
@_boundary
def sample(
    rows: int,
    seed: int,
    out: str,
    references: bool,
    fmt: str,
    settlement: str,
    quiet: bool,
    debug: bool,
) -> None:
    """Write a synthetic shop day (POS, bank and the list of injected faults)."""
    if settlement == "per-sale":
        from recon.generate import generate_day, write_day

        try:
            day = generate_day(rows, seed, with_references=references)
        except ValueError as exc:  # too few rows for one case of every kind
            raise UsageError(f"--rows: {exc}") from None
        paths = write_day(day, Path(out), fmt)
    elif settlement.startswith("month"):
        from recon.generate_batch import batch_month, month_settings, write_batch_day

        cfg = month_settings()
        try:
            pos, bank, truth = batch_month(rows, seed, cfg=cfg, pooled=settlement == "month-pooled")
        except ValueError as exc:
            raise UsageError(f"--rows: {exc}") from None
        paths = write_batch_day(pos, bank, truth, Path(out), fmt, cfg)
    else:
        from recon.generate_batch import batch_day, write_batch_day

        pos, bank, truth = batch_day(rows, seed, batches=settlement == "batch")
        paths = write_batch_day(pos, bank, truth, Path(out), fmt)
    if not quiet:
        con = Console(highlight=False)
        for name, path in paths.items():
            con.print(f"{name}: {path}")


@cli.command()
@click.option("--pos", "pos", type=click.Path(dir_okay=False), help="POS export to search.")
@click.option("--bank", "bank", type=click.Path(dir_okay=False), help="Bank file to search.")
@click.option("--pos-profile", help="Profile NAME or PATH.toml for the POS file's layout.")
@click.option("--bank-profile", help="Profile NAME or PATH.toml for the bank file's layout.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Run config TOML.")
@click.option(
    "--results",
    type=click.Path(file_okay=False, exists=True),
    help="Output folder of the day's run: use its decisions instead of reconciling again.",
)
@click.option("--state", help="A state file: add the items' history (open, carried, resolved).")
@click.option("--reference", help="The transfer's reference (RRN / transaction code).")
@click.option("--id", "record_id", help="A record id in either file.")
@click.option("--amount", help="The amount (with --date), e.g. 42.00.")
@click.option("--date", "day", help="The day of the sale, YYYY-MM-DD (with --amount).")
@click.option("--last4", help="The card's last 4 digits.")
@click.option("--terminal", help="The terminal id.")
@click.option("--time", "at", help="About when, HH:MM (within 30 minutes).")
@click.option(
    "--export",
    "export_path",
    type=click.Path(dir_okay=False),
    help="Write an evidence file: case.md, case.html or case.json.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the case as JSON on stdout.")
@lang_option
@output_options
@_boundary
def investigate(
    pos: str | None,
    bank: str | None,
    pos_profile: str | None,
    bank_profile: str | None,
    config_path: str | None,
    results: str | None,
    state: str | None,
    reference: str | None,
    record_id: str | None,
    amount: str | None,
    day: str | None,
    last4: str | None,
    terminal: str | None,
    at: str | None,
    export_path: str | None,
    as_json: bool,
    lang: str | None,
    quiet: bool,
    debug: bool,
) -> None:
    """Find every record of one disputed transfer and what recon decided about each."""
    from recon.investigate import Query, find_case
    from recon.report.case import case_dict, export, render_terminal

    settings = _settings(
        config_path, lang, pos=pos, bank=bank, pos_profile=pos_profile, bank_profile=bank_profile
    )
    query = Query(
        reference=reference,
        record_id=record_id,
        amount=amount,
        day=_parse(day, "%Y-%m-%d", "--date").date() if day else None,
        last4=last4,
        terminal=terminal,
        at=_parse(at, "%H:%M", "--time").time() if at else None,
    )
    case = find_case(
        settings,
        query,
        Path(results) if results else None,
        _state_path(state) if state else None,
    )
    if case is None:
        if not quiet:
            _err_console().print(
                t("case.not_found", settings.lang, query=query.describe(settings.lang)),
                markup=False,
            )
        sys.exit(EXIT_FOUND)
    if export_path:
        export(case, Path(export_path))
    if as_json:
        click.echo(json.dumps(case_dict(case), indent=2, ensure_ascii=False, default=str))
    elif not quiet:
        render_terminal(case, Console(highlight=False))
        if export_path:
            Console(highlight=False).print(
                t("case.written", settings.lang, path=export_path), markup=False
            )


def _parse(value: str, fmt: str, flag: str) -> datetime:
    try:
        return datetime.strptime(value, fmt)
    except ValueError:
        raise UsageError(f"{flag} {value!r}: expected {fmt.replace('%', '')}") from None


@cli.command("inspect")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--side",
    type=click.Choice(["pos", "bank"]),
    help="Which side the file is read as (default: bank for a bank statement, else pos).",
)
@click.option("--profile", help="Profile NAME or PATH.toml (default: recognised by headers).")
@click.option("--rows", default=5, show_default=True, help="Normalised rows to show.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@output_options
@_boundary
def inspect_cmd(
    file: str,
    side: str | None,
    profile: str | None,
    rows: int,
    as_json: bool,
    quiet: bool,
    debug: bool,
) -> None:
    """Show how recon reads FILE: format, profile, column mapping, counts, totals, rows."""
    from recon.inspect import inspect_file, render_inspection

    info = inspect_file(file, side, profile, rows=rows)
    if as_json:
        click.echo(json.dumps(info, indent=2, ensure_ascii=False, default=str))
    elif not quiet:
        render_inspection(info, Console(highlight=False))


@cli.command("profiles")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@output_options
@_boundary
def profiles_cmd(as_json: bool, quiet: bool, debug: bool) -> None:
    """List the built-in profiles and the headers each recognises."""
    from recon.inspect import list_profiles

    found = list_profiles()
    if as_json:
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    if quiet:
        return
    from rich.table import Table

    table = Table("name", "format", "encoding", "description", "headers")
    for p in found:
        if "error" in p:
            table.add_row(p["name"], "", "", f"error: {p['error']}", "")
            continue
        headers = "\n".join(f"{c}: {' | '.join(h)}" for c, h in p["headers"].items())
        table.add_row(p["name"], p["format"], p["encoding"], p["description"], headers)
    Console(highlight=False).print(table if found else "No built-in profiles found.")


@cli.group("profile")
def profile_group() -> None:
    """Work with profiles (the layout of an input file)."""


@profile_group.command("new")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "-o", "--out", "out", required=True, type=click.Path(dir_okay=False), help="TOML to write."
)
@click.option("--side", type=click.Choice(["pos", "bank"]), default="bank", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@output_options
@_boundary
def profile_new(
    file: str, out: str, side: str, force: bool, as_json: bool, quiet: bool, debug: bool
) -> None:
    """Write a starter profile TOML guessed from a sample CSV FILE (check every guess)."""
    from recon.inspect import new_profile

    made = new_profile(file, out, side, force=force)
    g = made.guess
    if as_json:
        info = {
            "path": made.path,
            "encoding": g.encoding,
            "delimiter": g.delimiter,
            "header_row": g.header_row,
            "columns": g.columns,
            "unmapped": g.unmapped,
            "datetime_format": g.datetime_format,
            "decimal_mark": g.decimal_mark,
            "thousands_mark": g.thousands_mark,
            "default_currency": g.default_currency,
            "check": made.check,
        }
        click.echo(json.dumps(info, indent=2, ensure_ascii=False, default=str))
        return
    if quiet:
        return
    con = Console(highlight=False)
    con.print(f"Wrote {made.path} (guessed: check every key before use)", markup=False)
    for canon, header in g.columns.items():
        con.print(f"  {canon:<12} <- {header}", markup=False)
    if g.unmapped:
        con.print(f"  unmapped: {', '.join(g.unmapped)}", markup=False)
    check = made.check
    if "error" in check:
        con.print(f"Check on {file}: does not load yet: {check['error']}", markup=False)
    else:
        con.print(
            f"Check on {file}: {check['read']} rows read, {check['loaded']} loaded, "
            f"{check['rejected']} rejected",
            markup=False,
        )
        for r in check["first_rejected"]:
            con.print(f"  line {r['line']}: {r['reason']}", markup=False)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
