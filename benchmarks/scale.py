"""Time vs rows for the three engines: local polars, local streaming (merchant buckets on
disk), and Spark local mode, on the generator's canonical Parquet days.

    python benchmarks/scale.py --sizes 1000000 10000000 50000000 --data bench-data \\
        --memory-limit 6G --spark-partitions 16

Each run is a fresh `recon run` process measured by bench.py's wrapper: wall seconds and the
peak RSS of the largest single process it waited for (getrusage of children: for Spark, the
largest of the driver, the JVM and the Python workers, not their sum). Local runs are skipped above
--local-max rows (a 50M-row day needs more memory than this machine has). Prints a markdown
table and writes it as JSON to --data/scale.json.

For the streaming engine the table also gives the peak as a share of --memory-limit (the
engine aims to stay within 1.3x of it) and, from summary.json's timings, the peak reached by
the end of loading (canonicalising the inputs into buckets) and by the end of matching and
classifying every bucket; what is left above those is the reports' writing. Generating one
10M-row chunk takes about 11 GiB; the chunks are cached under --data.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

import polars as pl

from recon.partitioned import parse_size

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import ensure_data, recon_command, run_measured

CHUNK = 10_000_000


def ensure_chunked(data: Path, size: int) -> tuple[Path, Path]:
    """A day too large to generate at once: independent 10M-row chunks (ids and merchants
    prefixed by chunk), written as folders of Parquet files (the streaming engine's input)."""
    folder = data / str(size)
    pos_dir, bank_dir = folder / "pos", folder / "bank"
    meta = folder / "meta.json"
    want = {"rows": size, "chunk": CHUNK}
    if meta.exists() and json.loads(meta.read_text()) == want:
        return pos_dir, bank_dir
    for i in range(math.ceil(size / CHUNK)):
        rows = min(CHUNK, size - i * CHUNK)
        chunk_pos, chunk_bank = ensure_data(data, rows)  # the cached day of that size
        for src, dst in ((chunk_pos, pos_dir), (chunk_bank, bank_dir)):
            dst.mkdir(parents=True, exist_ok=True)
            prefix = f"C{i}-"
            pl.scan_parquet(src).with_columns(
                id=pl.lit(prefix) + pl.col("id"),
                merchant=pl.lit(prefix) + pl.col("merchant"),
                reference=pl.lit(f"{i}") + pl.col("reference"),
            ).sink_parquet(dst / f"part-{i:03d}.parquet")
    meta.write_text(json.dumps(want))
    return pos_dir, bank_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--data", type=Path, default=Path("bench-data"))
    parser.add_argument("--memory-limit", default="6G")
    parser.add_argument("--spark-partitions", type=int, default=16)
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--local-max", type=int, default=10_000_000)
    parser.add_argument("--engines", nargs="+", default=["local", "streaming", "spark"])
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        pos, bank = (
            ensure_data(args.data, size) if size <= CHUNK else ensure_chunked(args.data, size)
        )
        for engine in args.engines:
            if engine == "local" and size > args.local_max:
                rows.append({"rows": size, "engine": engine, "skipped": "above --local-max"})
                continue
            out = args.data / str(size) / f"out-{engine}"
            shutil.rmtree(out, ignore_errors=True)
            cmd = [*recon_command(), "run", "--pos", str(pos), "--bank", str(bank)]
            cmd += ["--out", str(out), "--quiet", "--engine", engine]
            if engine == "streaming":
                cmd += ["--memory-limit", args.memory_limit]
            if engine == "spark":
                cmd += ["--partitions", str(args.spark_partitions)]
                cmd += ["--spark-master", args.spark_master]
            run = run_measured(cmd)
            summary = out / "summary.json"
            timings = json.loads(summary.read_text())["timings"] if summary.exists() else {}
            rows.append(
                {
                    "rows": size,
                    "engine": engine,
                    "seconds": round(run["seconds"], 1),
                    "peak_mib": round(run["peak_mib"]),
                    "rc": run["rc"],
                    "buckets": timings.get("buckets"),
                    "memory_limit": args.memory_limit if engine == "streaming" else None,
                    "load_peak_mib": timings.get("load_peak_mib"),
                    "match_peak_mib": timings.get("match_classify_peak_mib"),
                    "stderr": run["stderr"][-300:] if run["rc"] not in (0, 1) else "",
                }
            )
            print(rows[-1], flush=True)
    print("\n| rows per side | engine | seconds | peak MiB (process) | buckets | peak / limit |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        if "skipped" in r:
            print(f"| {r['rows']:,} | {r['engine']} | not run ({r['skipped']}) | | | |")
        else:
            ok = "" if r["rc"] in (0, 1) else f" (failed rc={r['rc']})"
            share = ""
            if r.get("memory_limit"):
                limit_mib = parse_size(r["memory_limit"]) / (1 << 20)
                share = f"{r['peak_mib'] / limit_mib:.2f}x of {r['memory_limit']}"
            print(
                f"| {r['rows']:,} | {r['engine']} | {r['seconds']}{ok} | {r['peak_mib']} "
                f"| {r['buckets'] or ''} | {share} |"
            )
    args.data.mkdir(parents=True, exist_ok=True)
    (args.data / "scale.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
