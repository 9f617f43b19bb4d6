"""--engine spark: the merchant buckets of recon.partitioned reconciled inside Spark.

Both sides are canonicalised by recon.partitioned into Parquet folders partitioned by shard,
read by Spark, joined to the driver's packing of shards into buckets and cogrouped on the
bucket; `cogroup(...).applyInArrow` hands each bucket's POS and bank rows to the same polars
core a local run uses (recon.core.reconcile_frames), so there is one implementation of the
matching rules. Each bucket returns its matched rows (written by Spark as a Parquet dataset)
and one row holding its items, deposits and findings (Arrow IPC and JSON), which the driver
merges and reports exactly like the streaming engine.

pyspark is an optional extra: pip install 'recon[spark]' (Spark 4, Java 17).
"""

from __future__ import annotations

import functools
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import polars as pl

from recon.config import Settings
from recon.core import Core
from recon.errors import UsageError
from recon.match.prepare import Day
from recon.partitioned import SHARD, Runner, SideParts, results_dir

KIND, DATA, BUCKET = "_kind", "_data", "_bucket"
# matches.parquet's columns and types, as the workers return them.
MATCH_SCHEMA = {
    "pos_id": pl.String(),
    "bank_id": pl.String(),
    "rule": pl.String(),
    "pos_amount": pl.String(),
    "bank_amount": pl.String(),
    "currency": pl.String(),
    "bank_currency": pl.String(),
    "lag_seconds": pl.Int64(),
    "pos_time": pl.Datetime("us"),
    "bank_time": pl.Datetime("us"),
    "group_id": pl.String(),
}


def _ipc(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_ipc(buf)
    return buf.getvalue()


def _canonical(table: Any) -> pl.DataFrame:
    """A bucket's rows from Spark as a canonical polars frame (Spark hands timestamps back
    in UTC when it treats them as instants: they are naive wall-clock times in recon)."""
    from recon.normalize import REASON
    from recon.schema import CANONICAL, conform

    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    fixes = [
        pl.col(c).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        for c, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone
    ]
    if fixes:
        frame = frame.with_columns(fixes)
    if frame.width == 0:
        return pl.DataFrame(schema=CANONICAL)
    if REASON in frame.columns:
        frame = frame.filter(pl.col(REASON) == "")
    return conform(frame.lazy()).collect()


def reconcile_bucket(settings: Settings, day: Day) -> Callable[[Any, Any, Any], Any]:
    """The function Spark runs per bucket: (key, pos rows, bank rows) -> matches + one row.
    Spark hands the rows over in no set order; the core puts them back in file order."""

    def run(key: Any, left: Any, right: Any) -> Any:
        import pyarrow as pa

        from recon.core import reconcile_frames
        from recon.partitioned import in_bucket

        k = int(key[0].as_py() if hasattr(key[0], "as_py") else key[0])
        core = in_bucket(
            k, reconcile_frames(_canonical(left), _canonical(right), settings, day=day)
        )
        matches = core.matches.select(
            [pl.col(c).cast(t) for c, t in MATCH_SCHEMA.items()]
        ).with_columns(pl.lit("match").alias(KIND), pl.lit(None, pl.Binary).alias(DATA))
        meta = {
            "items": _ipc(core.discrepancies),
            "deposits": _ipc(core.deposits),
            "findings": json.dumps(core.findings, ensure_ascii=False, default=str).encode(),
            "lag": json.dumps(core.lag_bound_minutes).encode(),
        }
        extra = pl.DataFrame(
            {KIND: list(meta), DATA: list(meta.values())},
            schema={KIND: pl.String, DATA: pl.Binary},
        )
        out = pl.concat([matches, extra], how="diagonal_relaxed")
        out = out.with_columns(pl.lit(k, pl.Int32).alias(BUCKET))
        return out.to_arrow().cast(_arrow_schema(pa))

    return run


def _arrow_schema(pa: Any) -> Any:
    """The Arrow types Spark's schema expects (plain, not large, strings and binaries)."""
    types = {
        pl.String(): pa.string(),
        pl.Int64(): pa.int64(),
        pl.Datetime("us"): pa.timestamp("us"),
    }
    fields = [pa.field(c, types[t]) for c, t in MATCH_SCHEMA.items()]
    fields += [pa.field(KIND, pa.string()), pa.field(DATA, pa.binary())]
    fields += [pa.field(BUCKET, pa.int32())]
    return pa.schema(fields)


def _spark_schema() -> str:
    types = {pl.String(): "string", pl.Int64(): "bigint", pl.Datetime("us"): "timestamp_ntz"}
    cols = [f"{c} {types[t]}" for c, t in MATCH_SCHEMA.items()]
    return ", ".join([*cols, f"{KIND} string", f"{DATA} binary", f"{BUCKET} int"])


def _local_workers_python(master: str | None) -> None:
    """Spark starts its Python workers with PYSPARK_PYTHON, else with the `python3` on PATH:
    run from a virtualenv's entry point (a cron job, a shell without the venv activated) that
    is the system Python, which has no polars. In local mode the workers run on this machine,
    so they use this interpreter unless PYSPARK_PYTHON says otherwise. On a cluster (a master
    that is not local, or a JVM that spark-submit started) the job ships its environment: see
    the README (spark.archives)."""
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # spark-submit's JVM, its own settings
    if (master or "local").startswith("local") and not submitted:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def spark_runner(
    master: str | None,
) -> Runner:
    try:
        from pyspark.sql import SparkSession
        from pyspark.sql import functions as F
    except ImportError:
        raise UsageError(
            "--engine spark needs pyspark (Spark 4): pip install 'recon[spark]'"
        ) from None

    def run(
        pos: SideParts, bank: SideParts, plan: list[list[int]], settings: Settings, day: Day
    ) -> Iterator[tuple[int, Core]]:
        buckets = len(plan)
        _local_workers_python(master)
        builder = SparkSession.builder.appName("recon")
        if master:
            builder = builder.master(master)
        # In local mode the executors live in the driver's JVM, which this call starts: give
        # it room for the shuffle (ignored when spark-submit started the JVM already).
        memory = os.environ.get("RECON_SPARK_DRIVER_MEMORY", "4g")
        builder = builder.config("spark.driver.memory", memory)
        spark = (
            builder.config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.parquet.inferTimestampNTZ.enabled", "true")
            .config("spark.sql.shuffle.partitions", str(max(1, min(buckets, 200))))
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        if not master and not spark.conf.get("spark.master", None):
            spark.conf.set("spark.master", "local[*]")
        sides = []
        for parts in (pos, bank):
            # One folder per input file, each partitioned by shard: read one by one (Spark
            # discovers the shard from the folder names of one root at a time) and union.
            frames = [
                spark.read.option("basePath", str(r)).parquet(str(r))
                for r in parts.roots
                if any(r.rglob("*.parquet"))
            ]
            sides.append(
                functools.reduce(lambda a, b: a.unionByName(b), frames) if frames else None
            )
        if sides[0] is None and sides[1] is None:
            return
        # A side with no rows at all still needs a frame to cogroup with.
        template = sides[0] if sides[0] is not None else sides[1]
        sides = [s if s is not None else template.limit(0) for s in sides]
        # The driver's packing of shards into buckets, as a small table joined to both sides.
        pairs = [(shard, k) for k, shards in enumerate(plan) for shard in shards]
        schema = f"{SHARD} int, {BUCKET} int"
        sides = [  # one table per side: a shared one would make the cogroup key ambiguous
            s.join(F.broadcast(spark.createDataFrame(pairs, schema)), on=SHARD).drop(SHARD)
            for s in sides
        ]
        grouped = sides[0].groupby(BUCKET).cogroup(sides[1].groupby(BUCKET))
        result = grouped.applyInArrow(reconcile_bucket(settings, day), schema=_spark_schema())
        work = pos.roots[0].parents[1] if pos.roots else bank.roots[0].parents[1]
        dataset = work / "spark-results"
        result.write.mode("overwrite").parquet(str(dataset))

        # Matched rows go to the merge as one file; the per-bucket rows are small.
        files = sorted(dataset.rglob("*.parquet"))
        if not files:
            return
        scan = pl.scan_parquet(files, hive_partitioning=False)
        target = results_dir(work) / "matches-spark.parquet"
        (
            scan.filter(pl.col(KIND) == "match")
            .select([pl.col(c).cast(t) for c, t in MATCH_SCHEMA.items()])
            .sink_parquet(target)
        )
        meta = scan.filter(pl.col(KIND) != "match").select(BUCKET, KIND, DATA).collect()
        for (k,), rows in sorted(meta.group_by(BUCKET), key=lambda g: g[0][0]):
            parts = dict(zip(rows[KIND], rows[DATA], strict=True))
            yield (
                int(k),
                Core(
                    discrepancies=pl.read_ipc(io.BytesIO(parts["items"])),
                    matches=pl.DataFrame(schema=MATCH_SCHEMA),
                    deposits=pl.read_ipc(io.BytesIO(parts["deposits"])),
                    findings=json.loads(parts["findings"].decode()),
                    lag_bound_minutes=json.loads(parts["lag"].decode()),
                ),
            )

    return run
