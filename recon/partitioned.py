"""Days larger than memory: canonical rows are streamed to disk in merchant buckets, each bucket
is reconciled by the shared core (recon.core), and the buckets' results are merged.

    canonicalise(side)  file(s) -> work/<side>/f<i>/shard=<s>/*.parquet  (one streaming pass
                        per Parquet file; other formats are loaded one file at a time); a
                        shard is a hash of the merchant
    plan                shards packed into buckets of about equal rows, largest first
    per bucket          pos_k, bank_k -> core -> items, matches (to disk), deposits
    merge               items ordered and numbered as one run would, from their sort columns
                        alone, and rewritten in that order slice by slice; in memory stay
                        only the columns the counts read and the items the reports list
                        (RunResult.shown); discrepancies.csv/.parquet and matches.parquet
                        are streamed from the files; summary and reports as usual

When both files name the merchant of every row, the matcher keeps merchants apart: no two
records of different merchants pair, share a duplicate group or a void, and what it learns of
the day's own pairs (the bank's usual lag, whether the files' references meet) it learns per
merchant (recon.match.prepare.Day). Each bucket gets the day's Day (the keys both files carry),
and puts its rows back in file order (recon.core.in_file_order), so ties break as in a run over
the whole day: the result is the same, row for row, whatever the bucket count (tests compare
them). When a row has no merchant it could pair with any merchant's: the day is then one
bucket. Peak memory is about one bucket's worth of a normal run (what is held between buckets
does not grow with the day's items); one merchant's day is never split, so the largest
merchant's day must fit in memory. Loading streams each input file into the shards; its peak
(about 3 GiB for a 10M-row Parquet file) does not depend on the limit.
"""

from __future__ import annotations

import glob
import hashlib
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from recon.classify import order_items
from recon.config import Settings
from recon.core import Core, reconcile_frames
from recon.errors import InputError, UsageError
from recon.exprs import formatted
from recon.load import is_statement, load_side, plan_side
from recon.match.prepare import OPTIONAL_KEYS, Day, SideKeys, day_of, side_keys
from recon.normalize import REASON, account_text, mask_memo_text, mask_text, rejected_text
from recon.result import RunResult, SideInfo, build_summary, peak_mib
from recon.schema import CANONICAL, REJECTED, conform

SHARD = "shard"
_SEED = 20261120
# Peak memory of a normal run per row of the larger side (measured: 10M x 10M rows, ~8 GiB).
# With the items on disk (merge) the streaming engine's peak is one bucket's: measured at 50M
# rows per side, --memory-limit 4G (11 buckets) peaked at 4.68 GiB and 6G (7 buckets) at
# 6.63 GiB, i.e. about 1.25 GiB + 810 bytes per row of the larger side in a bucket.
BYTES_PER_ROW = 860
# A --state run's bucket also holds its records' key texts and the items' state: at 10M rows a
# side (a first day, --memory-limit 4G, 3 buckets) it peaked at 4.30 GiB where the same run
# without state peaked at 3.62 GiB, i.e. about 1.25 GiB + 980 bytes per row of the larger side
# in a bucket.
STATE_BASE_BYTES = 1_342_177_280  # 1.25 GiB
STATE_BYTES_PER_ROW = 980


def shard_expr(shards: int) -> pl.Expr:
    """The shard of a row: a hash of its merchant (rows without one share a shard). Shards
    are packed into buckets by size afterwards, so a bucket count that does not divide the
    merchants evenly still gives buckets of about equal size."""
    return (pl.col("merchant").fill_null("").hash(seed=_SEED) % shards).cast(pl.Int32)


def shards_for(buckets: int) -> int:
    return min(4096, max(64, 4 * buckets))


def expand(spec: str) -> list[Path]:
    """The files an input names: a file, a folder (every file below it, hive-partitioned
    folders included) or a glob pattern; sorted, so the result does not depend on the disk."""
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    elif any(ch in spec for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
    else:
        files = [path]
    if not files:
        raise InputError("no input files found", spec)
    return files


def parse_size(text: str) -> int:
    """'8G', '512M', '1.5GiB' -> bytes."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = t[-1] if t and t[-1] in units else ""
    try:
        value = float(t[: len(t) - len(unit)] if unit else t)
    except ValueError:
        raise UsageError(f"--memory-limit: cannot read {text!r} (use e.g. 8G or 512M)") from None
    if value <= 0:
        raise UsageError("--memory-limit must be positive")
    return int(value * units[unit])


def buckets_for(rows: int, memory_limit: int | None, state: bool = False) -> int:
    """How many buckets keep one bucket's reconciliation (with the state's work when `state`)
    under `memory_limit`."""
    if not memory_limit:
        return 16
    if state:
        # (a limit under the base still gets buckets: a quarter of it for the rows)
        room = max(memory_limit - STATE_BASE_BYTES, memory_limit // 4)
        return max(1, math.ceil(rows * STATE_BYTES_PER_ROW / room))
    return max(1, math.ceil(rows * BYTES_PER_ROW / memory_limit))


@dataclass
class SideParts:
    side: str
    info: SideInfo
    rejected: pl.DataFrame
    roots: list[Path] = field(default_factory=list)
    statement: bool = False  # every file is a plain bank statement (recon.classify.is_statement)

    def shard_files(self, shard: int) -> list[Path]:
        return sorted(
            p for root in self.roots for p in (root / f"{SHARD}={shard}").glob("*.parquet")
        )

    def shard_rows(self) -> dict[int, int]:
        """Rows per shard, from the Parquet footers."""
        rows: dict[int, int] = {}
        for root in self.roots:
            for folder in root.glob(f"{SHARD}=*"):
                shard = int(folder.name.split("=", 1)[1])
                rows[shard] = rows.get(shard, 0) + _rows_in(sorted(folder.glob("*.parquet")))
        return rows


# Runs the buckets of a plan (lists of shards) and yields each bucket's result: _run_here, or
# recon.spark_engine.spark_runner. Every bucket is matched with the day's Day.
Runner = Callable[
    [SideParts, SideParts, list[list[int]], Settings, Day], Iterator[tuple[int, Core]]
]


class Carrier(Protocol):
    """What a state run (recon.carry_buckets) adds to the buckets: the records still open,
    which join their merchant's bucket, and what the state makes of each bucket's result."""

    def begin(self, pos: SideParts, bank: SideParts, shards: int, settings: Settings) -> Settings:
        """Read the state for the files' day; the settings to match with."""
        ...

    def side_keys(self) -> tuple[SideKeys, SideKeys]:
        """The keys the carried records of each side carry (for the day's Day)."""
        ...

    def shard_rows(self) -> dict[int, int]:
        """The carried records per shard (for the plan)."""
        ...

    def run(
        self, pos: SideParts, bank: SideParts, plan: list[list[int]], settings: Settings, day: Day
    ) -> Iterator[tuple[int, Core]]:
        """The buckets' results (a Runner)."""
        ...

    def merged(self, merged: Merged) -> None:
        """Take the merged result (the day's item ids)."""
        ...


def plan_buckets(
    pos: SideParts, bank: SideParts, buckets: int, more: dict[int, int] | None = None
) -> list[list[int]]:
    """Shards packed into `buckets` buckets, largest shard first into the lightest bucket
    (ties by number, so the plan depends only on the data). Empty buckets are dropped.
    `more`: rows per shard besides the files' (the records a state carries)."""
    sizes: dict[int, int] = dict(more or {})
    for side in (pos, bank):
        for shard, n in side.shard_rows().items():
            sizes[shard] = sizes.get(shard, 0) + n
    loads = [0] * buckets
    plan: list[list[int]] = [[] for _ in range(buckets)]
    for shard, n in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])):
        k = min(range(buckets), key=lambda i: (loads[i], i))
        loads[k] += n
        plan[k].append(shard)
    return [sorted(shards) for shards in plan if shards]


def _rows_in(files: list[Path]) -> int:
    return sum(pl.scan_parquet(f).select(pl.len()).collect().item() for f in files)


def _parquet_rows(spec: str) -> int:
    """Rows of the Parquet files of an input (0 for other formats): the footers only."""
    n = 0
    for f in expand(spec):
        if f.suffix.lower() in (".parquet", ".pq", ".parq"):
            n += pl.scan_parquet(f).select(pl.len()).collect().item()
    return n


def canonicalise(
    spec: str,
    side: str,
    profile: str | None,
    timezone: str | None,
    work: Path,
    shards: int,
) -> SideParts:
    """Stream one side's files into canonical Parquet shards under work/<side>/."""
    files = expand(spec)
    rows = loaded = 0
    rejected: list[pl.DataFrame] = []
    digests: list[str] = []
    profiles: set[str] = set()
    kinds: set[str] = set()
    statements: list[bool] = []
    roots = []
    target = shard_expr(shards).alias(SHARD)
    for i, file in enumerate(files):
        root = work / side / f"f{i:05d}"
        roots.append(root)
        planned = plan_side(file, side, profile, timezone=timezone)
        if planned is not None:
            plan = planned.plan.with_columns(account_text(), mask_memo_text("memo"), target)
            plan.sink_parquet(pl.PartitionBy(root, key=SHARD, include_key=False), mkdir=True)
            written = sorted(root.rglob("*.parquet"))
            bad = (
                pl.scan_parquet(written, hive_partitioning=False)
                .filter(pl.col(REASON) != "")
                .select(pl.lit(side).alias("side"), "line", pl.col(REASON).alias("reason"))
                .collect()
                if written
                else pl.DataFrame(schema={"side": pl.String, "line": pl.Int64, "reason": pl.String})
            )
            bad = bad.join(rejected_text(planned.raw, bad), on="line", how="left")
            bad = bad.with_columns(mask_text("raw"))
            n_rows, n_bad = planned.rows, bad.height
            digests.append(planned.sha256)
            profiles.add(planned.profile)
            kinds.add(planned.reader)
            statements.append(is_statement(planned.reader, planned.profile))
        else:
            one = load_side(file, side, profile, timezone=timezone)
            frame = one.frame.with_columns(pl.lit("").alias(REASON), target)
            if frame.height:
                frame.lazy().sink_parquet(
                    pl.PartitionBy(root, key=SHARD, include_key=False), mkdir=True
                )
            bad, n_rows, n_bad = one.rejected, one.rows, one.rejected.height
            digests.append(one.sha256)
            profiles.add(one.profile)
            kinds.add(one.reader)
            statements.append(is_statement(one.reader, one.profile))
        rows += n_rows
        loaded += n_rows - n_bad
        rejected.append(bad.select(list(REJECTED)).cast(REJECTED))  # type: ignore[arg-type]
    sha = digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()
    bad_all = pl.concat(rejected) if rejected else pl.DataFrame(schema=REJECTED)
    info = SideInfo(
        side=side,
        path=spec,
        sha256=sha,
        rows=rows,
        loaded=loaded,
        rejected=bad_all.height,
        profile=", ".join(sorted(profiles)),
        reader=", ".join(sorted(kinds)),
    )
    return SideParts(side, info, bad_all, roots, statement=bool(statements) and all(statements))


def day_of_parts(
    pos: SideParts, bank: SideParts, also: tuple[SideKeys, SideKeys] | None = None
) -> Day:
    """The day's Day (recon.match.prepare), read of both sides' shards: every bucket is matched
    with it, as the whole day would be. The keys a side carries are looked for shard by shard
    until every one is found (the first shard, most days); its merchants are all read.
    `also`: the keys of more records of each side (those a state carries)."""

    def keys(parts: SideParts) -> SideKeys:
        files = _files(parts)
        if not files:
            return SideKeys()
        seen = side_keys(_rows(files), frozenset(OPTIONAL_KEYS))
        for f in files:
            if seen.carried == frozenset(OPTIONAL_KEYS):
                break
            found = side_keys(_rows([f]), seen.carried)
            seen = SideKeys(seen.rows, seen.no_merchant, seen.carried | found.carried)
        return seen

    found = keys(pos), keys(bank)
    if also is not None:
        found = tuple(  # type: ignore[assignment]
            SideKeys(a.rows + b.rows, a.no_merchant + b.no_merchant, a.carried | b.carried)
            for a, b in zip(found, also, strict=True)
        )
    return day_of(*found)


def _files(parts: SideParts) -> list[Path]:
    return sorted(f for root in parts.roots for f in root.rglob("*.parquet"))


def _rows(files: list[Path]) -> pl.LazyFrame:
    """The canonical rows of shard files (rejected rows left out)."""
    return pl.scan_parquet(files, hive_partitioning=False).filter(pl.col(REASON) == "")


def side_rows(parts: SideParts) -> pl.LazyFrame | None:
    """Every canonical row of a side (rejected rows left out), None when it has none."""
    files = _files(parts)
    return _rows(files) if files else None


def load_bucket(
    parts: SideParts, shards: list[int], columns: list[str] | None = None
) -> pl.DataFrame:
    """The canonical rows of one bucket's shards (rejected rows left out); only `columns`
    when given."""
    files = [f for shard in shards for f in parts.shard_files(shard)]
    if not files:
        empty = pl.DataFrame(schema=CANONICAL)
        return empty if columns is None else empty.select(columns)
    lf = conform(_rows(files))
    # in one chunk per column, as match wants it (the scan hands back one per row group)
    return (lf if columns is None else lf.select(columns)).collect().rechunk()


def in_bucket(k: int, core: Core) -> Core:
    """A bucket's result with deposit group ids made unique across buckets."""
    return core._replace(
        matches=_prefix_groups(core.matches, k), deposits=_prefix_groups(core.deposits, k)
    )


def _prefix_groups(frame: pl.DataFrame, k: int) -> pl.DataFrame:
    """Deposit group ids are numbered per bucket: the bucket makes them unique."""
    if "group_id" not in frame.columns:
        return frame
    return frame.with_columns(
        group_id=pl.when(pl.col("group_id").is_not_null()).then(
            formatted("G{}-{}", pl.lit(f"{k:03d}"), pl.col("group_id").str.slice(1))
        )
    )


def results_dir(work: Path) -> Path:
    """Where the buckets' matches files go (merge() takes every matches-*.parquet there)."""
    out = work / "results"
    out.mkdir(parents=True, exist_ok=True)
    return out


@dataclass
class Merged:
    """What the buckets gave, on disk where it is large (items, matches).

    `items_files` hold every item with every column, in the day's order and numbering, one
    file per slice of the order; `discrepancies` holds only the columns the summary's and the
    reports' counts, sums and charts read (COUNTED), for every item in order; `shown` every
    column of the items the reports list (shown_counts(): the first items of the day and the
    first of each type). A day without items has no files and its (empty) items in
    `discrepancies`."""

    discrepancies: pl.DataFrame
    matches_files: list[Path]
    deposits: pl.DataFrame
    findings: list[dict[str, Any]]
    items_files: list[Path] = field(default_factory=list)
    shown: pl.DataFrame | None = None
    # (_part, _row, item_id): the day's id of each bucket's item (by its row in the bucket)
    item_ids: pl.DataFrame | None = None
    # the bank's usual lag the buckets showed, as one run over the day would give it
    lag_bound_minutes: float | None = None


# The columns recon.classify.order_items sorts on, and the bucket's own item id.
ITEM_KEYS = ("severity", "type", "pos_time", "bank_time", "pos_ids", "bank_ids", "item_id")
# A bucket's items may carry the severity they are ordered by apart from the one they show: a
# state run escalates old items after the day's order is made, as a local run does.
SORT_SEVERITY = "_sort_severity"
# What the summary (recon.result.build_summary), exit codes, notify and the reports' counts,
# sums and charts read of every item; low-cardinality text is held as categories.
COUNTED = ("type", "severity", "currency", "at_risk_minor", "terminal", "merchant", "pos_time")
# ... and, on a state run, whether an item alerts (RunResult.exit_code)
COUNTED_IF_THERE = ("alert",)
_AS_CATEGORY = ("type", "severity", "terminal", "merchant")


def shown_counts() -> tuple[int, int]:
    """How many items the reports list in full: report.html's first items, report.xlsx's
    first items of each type (the terminal and summary.md list the first few of these)."""
    from recon.report import html, xlsx

    return html.MAX_ROWS, xlsx.MAX_ROWS


# Items per ordered slice: about 150 MiB of items with their texts.
ITEMS_PER_SLICE = 200_000
_ROW_GROUP = 50_000


def merge(parts: Iterator[tuple[int, Core]], work: Path) -> Merged:
    """Collect the buckets' results: items renumbered as one run would number them, finding
    item ids renamed to match, matches and deposits of every bucket.

    Each bucket's items and matches go to disk as the bucket finishes, so the memory held
    from bucket to bucket does not grow with the day. The day's order is then worked out from
    the sort columns alone, and the items are rewritten in that order slice by slice."""
    deposits, findings, lags = [], [], []
    out = results_dir(work)
    empty: pl.DataFrame | None = None
    for k, core in parts:
        items = core.discrepancies
        if items.height:
            items.write_parquet(out / f"items-{k:05d}.parquet", row_group_size=_ROW_GROUP)
        elif empty is None and items.width:
            empty = items.clear().drop(SORT_SEVERITY, strict=False)
        del items
        if core.deposits.height:
            deposits.append(core.deposits)
        if core.matches.height:
            path = out / f"matches-{k:05d}.parquet"
            core.matches.write_parquet(path)
        findings += [dict(f, _part=k) for f in core.findings]
        lags.append(core.lag_bound_minutes)
        del core
    # (a runner may also have written matches files there itself: Spark does)
    files = sorted(out.glob("matches-*.parquet"))
    deps = pl.concat(deposits, how="vertical_relaxed") if deposits else pl.DataFrame()
    if deps.height:
        deps = deps.sort("group_id")
    item_parts = {int(f.stem.split("-")[1]): f for f in sorted(out.glob("items-*.parquet"))}
    if not item_parts:
        for f in findings:
            f.pop("_part", None)
        empty = empty if empty is not None else pl.DataFrame()
        return Merged(empty, files, deps, findings, lag_bound_minutes=combined_lag(lags))
    ordered, counted, shown, ids = _order_items(item_parts, findings, work / "items")
    for f in findings:
        f.pop("_part", None)
    for f in item_parts.values():
        f.unlink()
    return Merged(counted, files, deps, findings, ordered, shown, ids, combined_lag(lags))


def combined_lag(found: list[float | None]) -> float | None:
    """The buckets' lags as one (recon.match._minutes over the whole day): 0 where a bucket's
    bank is slower than the window, else the widest, None where no bucket learnt one."""
    known = [x for x in found if x is not None]
    if not known:
        return None
    return 0.0 if 0.0 in known else max(known)


def _order_items(
    parts: dict[int, Path], findings: list[dict[str, Any]], folder: Path
) -> tuple[list[Path], pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The buckets' items in the day's order and numbering (recon.classify.order_items on the
    sort columns of every item), written slice by slice; findings' item ids renamed."""
    first_part = next(iter(parts.values()))
    resorted = SORT_SEVERITY in pl.scan_parquet(first_part).collect_schema().names()
    sort_keys = [pl.col(SORT_SEVERITY).alias("severity")] if resorted else ["severity"]
    keys = pl.concat(
        [
            pl.scan_parquet(f)
            .select(*sort_keys, *ITEM_KEYS[1:])
            .with_row_index("_row")
            .with_columns(_part=pl.lit(k, pl.Int32))
            for k, f in parts.items()
        ],
        how="vertical_relaxed",
    ).collect()
    day = order_items(keys.rename({"item_id": "_local"}))
    del keys
    renamed = _renames(day, findings)
    for f in findings:
        if f.get("kind") == "terminal_currency":
            f["items"] = [renamed.get((f["_part"], i), i) for i in f.get("items", [])]
    first, per_type = shown_counts()
    at = pl.int_range(pl.len())
    order = day.select(
        "_part", "_row", "item_id", _shown=(at < first) | (at.over("type") < per_type)
    )
    del day
    # One schema for every slice (a column all null in one bucket may have another type).
    schema = pl.concat(
        [
            pl.DataFrame(
                schema=pl.scan_parquet(f).drop(SORT_SEVERITY, strict=False).collect_schema()
            )
            for f in parts.values()
        ],
        how="vertical_relaxed",
    ).schema
    counted_columns = [*COUNTED, *(c for c in COUNTED_IF_THERE if c in schema)]
    folder.mkdir(parents=True, exist_ok=True)
    written, counted, shown = [], [], []
    for n, start in enumerate(range(0, order.height, ITEMS_PER_SLICE)):
        want = order.slice(start, ITEMS_PER_SLICE)
        # Each bucket's items keep their bucket's order in the day's order (order_items sorts
        # stably on the same columns), so a slice takes a run of rows from each bucket's file.
        spans = want.group_by("_part").agg(
            lo=pl.col("_row").min(), hi=pl.col("_row").max(), n=pl.len()
        )
        pieces = []
        for k, lo, hi, count in spans.sort("_part").iter_rows():
            piece = (
                pl.scan_parquet(parts[k])
                .slice(lo, hi - lo + 1)
                .with_row_index("_row", offset=lo)
                .with_columns(_part=pl.lit(k, pl.Int32))
            )
            if hi - lo + 1 != count:  # not a run after all: take the rows asked for
                rows = want.filter(pl.col("_part") == k)["_row"]
                piece = piece.filter(pl.col("_row").is_in(rows.implode()))
            pieces.append(piece.drop("item_id").collect())
        got = pl.concat(pieces, how="diagonal_relaxed")
        del pieces
        rows = want.join(got, on=["_part", "_row"], how="left", maintain_order="left")
        del got
        rows = rows.select(pl.col(c).cast(t) for c, t in schema.items()).with_columns(
            rows["_shown"]
        )
        path = folder / f"items-{n:05d}.parquet"
        rows.drop("_shown").write_parquet(path, row_group_size=_ROW_GROUP)
        written.append(path)
        counted.append(
            rows.select(counted_columns).with_columns(pl.col(_AS_CATEGORY).cast(pl.Categorical))
        )
        shown.append(rows.filter("_shown").drop("_shown"))
        del rows
    return written, pl.concat(counted), pl.concat(shown), order.drop("_shown")


def _renames(items: pl.DataFrame, findings: list[dict[str, Any]]) -> dict[tuple[int, str], str]:
    """(bucket, bucket's item id) -> the day's item id, for the ids findings name only (a
    large day has millions of items and a few hundred named by findings)."""
    named = pl.DataFrame(
        [
            (f["_part"], i)
            for f in findings
            if f.get("kind") == "terminal_currency"
            for i in f["items"]
        ],
        schema={"_part": pl.Int32, "_local": pl.String},
        orient="row",
    )
    pairs = items.select("_part", "_local", "item_id").join(named.unique(), on=["_part", "_local"])
    return {(p, old): new for p, old, new in pairs.iter_rows()}


def reconcile_partitioned(
    settings: Settings,
    *,
    buckets: int | None = None,
    memory_limit: int | None = None,
    work_dir: Path | None = None,
    on_stage: Callable[[str], None] | None = None,
    run_buckets: Runner | None = None,
    carrier: Carrier | None = None,
) -> tuple[RunResult, pl.LazyFrame, Path]:
    """Reconcile settings.pos against settings.bank bucket by bucket (with the records a state
    carries, `carrier`).

    Returns the result (its `matches` holds only the columns the summary and reports read),
    a lazy scan of every matched row for matches.parquet, and the work folder (the caller
    removes it once the reports are written). `run_buckets` lets another engine (Spark) run
    the buckets; by default they run here, one after the other."""
    if not settings.pos or not settings.bank:
        raise UsageError("both a POS file (--pos) and a bank file (--bank) are needed")
    stage = on_stage or (lambda _name: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if buckets is None:
        rows = max(_parquet_rows(settings.pos), _parquet_rows(settings.bank))
        buckets = buckets_for(rows, memory_limit, state=carrier is not None)
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="recon-", dir=work_dir))
    try:
        return _reconcile_in(settings, buckets, work, stage, run_buckets, t0, timings, carrier)
    except BaseException:
        cleanup(work)
        raise


def _reconcile_in(
    settings: Settings,
    buckets: int,
    work: Path,
    stage: Callable[[str], None],
    run_buckets: Runner | None,
    t0: float,
    timings: dict[str, float],
    carrier: Carrier | None = None,
) -> tuple[RunResult, pl.LazyFrame, Path]:
    assert settings.pos and settings.bank
    stage("load")
    shards = shards_for(buckets)
    pos = canonicalise(settings.pos, "pos", settings.pos_profile, settings.timezone, work, shards)
    bank = canonicalise(
        settings.bank, "bank", settings.bank_profile, settings.timezone, work, shards
    )
    more: dict[int, int] | None = None
    also: tuple[SideKeys, SideKeys] | None = None
    if carrier is not None:
        settings = carrier.begin(pos, bank, shards, settings)
        more, also, run_buckets = carrier.shard_rows(), carrier.side_keys(), carrier.run
    day = day_of_parts(pos, bank, also)
    # A row without a merchant could pair with any merchant's rows: then one bucket.
    plan = plan_buckets(pos, bank, buckets if day.scoped else 1, more)
    timings["load_s"] = time.perf_counter() - t0
    timings["load_peak_mib"] = peak_mib()
    if settings.bank_is_statement is None:
        # As the local run decides it: from the files as loaded (every one a statement).
        settings = replace(settings, bank_is_statement=bank.statement)
    stage("match")
    t = time.perf_counter()
    runner = run_buckets or _run_here
    merged = merge(runner(pos, bank, plan, settings, day), work)
    if carrier is not None:
        carrier.merged(merged)
    if merged.lag_bound_minutes is not None:
        # The lag the day showed is the run's, as in a local run (recon.pipeline).
        lag = merged.lag_bound_minutes
        settings = replace(settings, match=replace(settings.match, lag_bound_minutes=lag))
    timings["match_classify_s"] = time.perf_counter() - t
    timings["match_classify_peak_mib"] = peak_mib()
    timings["total_s"] = time.perf_counter() - t0
    timings["buckets"] = len(plan)

    matches_all = pl.scan_parquet(merged.matches_files) if merged.matches_files else None
    # The summary and the lag chart read only these; ids become a marker of presence (true or
    # null, a bit a row), so fifty million matched rows take about 0.6 GiB instead of several.
    flag = pl.Categorical()
    slim_schema = {
        "rule": flag,
        "pos_id": flag,
        "bank_id": flag,
        "group_id": flag,
        "lag_seconds": pl.Int64(),
    }
    slim = (
        matches_all.select(
            pl.col("rule").cast(flag),
            *(
                pl.when(pl.col(c).is_not_null()).then(True).alias(c)
                for c in ("pos_id", "bank_id", "group_id")
            ),
            "lag_seconds",
        ).collect()
        if matches_all is not None
        else pl.DataFrame(schema=slim_schema)
    )
    rejected = pl.concat([pos.rejected, bank.rejected]).cast(REJECTED).sort("side", "line")
    items = merged.discrepancies
    if items.width == 0:
        items = empty_core(settings).discrepancies
    summary = build_summary(
        items,
        slim,
        rejected,
        pos.info,
        bank.info,
        settings,
        timings,
        merged.findings,
        merged.deposits,
    )
    result = RunResult(
        discrepancies=items,
        matches=slim,
        rejected=rejected,
        pos=pos.info,
        bank=bank.info,
        settings=settings,
        summary=summary,
        deposits=merged.deposits,
        shown=merged.shown,
        all_items=pl.scan_parquet(merged.items_files) if merged.items_files else None,
    )
    # (a day without matches has the columns of a local run's matches, no rows)
    lazy_matches = matches_all if matches_all is not None else empty_core(settings).matches.lazy()
    return result, lazy_matches, work


def _run_here(
    pos: SideParts, bank: SideParts, plan: list[list[int]], settings: Settings, day: Day
) -> Iterator[tuple[int, Core]]:
    for k, shards in enumerate(plan):
        # Frames passed without a name here, so the core can free them once matched, and
        # the result released before the next bucket loads: one bucket in memory at a time.
        core = in_bucket(
            k,
            reconcile_frames(
                load_bucket(pos, shards), load_bucket(bank, shards), settings, day=day
            ),
        )
        yield k, core
        del core


def empty_core(settings: Settings) -> Core:
    """The result of a day with nothing in it (the core's columns, no rows)."""
    empty = pl.DataFrame(schema=CANONICAL)
    return reconcile_frames(empty, empty, settings)


def cleanup(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
