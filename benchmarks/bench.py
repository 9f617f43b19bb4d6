"""Time `recon run` against a bare polars "floor" on synthetic canonical Parquet inputs.

    python benchmarks/bench.py --sizes 1000000 10000000 --repeat 3 --data bench-data

Inputs are generated once per size under --data/<size>/ (reused when present). Every
measurement runs in its own fresh process under a small wrapper that reports wall seconds and
the child's peak RSS (getrusage(RUSAGE_CHILDREN).ru_maxrss), so peak memory is per process.
Prints a markdown table and writes it as JSON to --data/results.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

SEED = 20261120
GENERATOR_VERSION = 2  # bump when recon.generate changes what it writes
# Stages of summary.json `timings` (seconds, and the process's peak MiB by the end of each).
STAGES = ("load", "match", "classify")


def floor(pos: Path, bank: Path, out: Path) -> None:
    """The least any reconciler must do: read both sides, join on reference, two anti-joins,
    write the three results."""
    import polars as pl

    out.mkdir(parents=True, exist_ok=True)
    p = pl.scan_parquet(pos)
    b = pl.scan_parquet(bank)
    matched = p.join(b, on="reference", how="inner", suffix="_bank")
    pos_only = p.join(b, on="reference", how="anti")
    bank_only = b.join(p, on="reference", how="anti")
    frames = pl.collect_all([matched, pos_only, bank_only])
    for name, df in zip(("matched", "pos_only", "bank_only"), frames, strict=True):
        df.write_parquet(out / f"{name}.parquet")


def measure(cmd: list[str]) -> dict:
    """Run `cmd`, return its wall time, exit code and peak RSS (this process must have no other
    children, hence one wrapper process per measurement)."""
    t = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t
    maxrss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    if sys.platform == "darwin":
        maxrss_kib //= 1024
    return {
        "seconds": seconds,
        "rc": proc.returncode,
        "peak_mib": maxrss_kib / 1024,
        "stderr": proc.stderr[-2000:],
    }


def run_measured(cmd: list[str]) -> dict:
    wrapper = [sys.executable, str(Path(__file__).resolve()), "_measure", "--", *cmd]
    out = subprocess.run(wrapper, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def ensure_data(data: Path, size: int, money: str = "decimal") -> tuple[Path, Path]:
    """Canonical Parquet days; `money` "decimal" types amount and fee as Decimal(18, 2) (what a
    typed export holds), "text" keeps the generator's decimal strings."""
    folder = data / (str(size) if money == "decimal" else f"{size}-{money}")
    meta = folder / "meta.json"
    want = {"rows": size, "seed": SEED, "generator": GENERATOR_VERSION, "money": money}
    if meta.exists() and json.loads(meta.read_text()) == want:
        return folder / "pos.parquet", folder / "bank.parquet"
    # Generate in a child so this process stays small. The strings have exactly two decimals,
    # so str.to_decimal(scale=2) is exact.
    code = (
        "import sys, time; from pathlib import Path; import polars as pl; "
        "from recon.generate import generate_day, write_day; "
        "t = time.perf_counter(); d = generate_day(int(sys.argv[1]), int(sys.argv[2])); "
        "g = time.perf_counter() - t; p = write_day(d, Path(sys.argv[3]), 'parquet'); "
        "typed = [pl.col(c).str.to_decimal(scale=2).cast(pl.Decimal(18, 2)) "
        "for c in ('amount', 'fee')]; "
        "[pl.read_parquet(p[s]).with_columns(typed).write_parquet(p[s]) "
        "for s in ('pos', 'bank') if sys.argv[4] == 'decimal']; "
        "print(f'generated {sys.argv[1]} rows per side in {g:.1f}s, '"
        "f'written in {time.perf_counter() - t - g:.1f}s')"
    )
    print(f"generating {size} rows ({money} money) into {folder} ...", flush=True)
    cmd = [sys.executable, "-c", code, str(size), str(SEED), str(folder), money]
    subprocess.run(cmd, check=True)
    meta.write_text(json.dumps(want))
    return folder / "pos.parquet", folder / "bank.parquet"


def recon_command() -> list[str]:
    beside = Path(sys.executable).with_name("recon")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("recon")
    if not found:
        raise SystemExit("bench: the `recon` command is not installed (pip install -e .)")
    return [found]


def stage_row(out: Path, run: dict) -> dict:
    """Seconds and peak MiB per stage of one recon run, from its summary.json; `write` is the
    rest of the wall time (reports written, and the start of the process)."""
    try:
        timings = json.loads((out / "summary.json").read_text())["timings"]
    except (OSError, ValueError, KeyError):
        return {}
    row = {f"{s}_s": timings.get(f"{s}_s") for s in STAGES}
    row |= {f"{s}_peak_mib": timings.get(f"{s}_peak_mib") for s in STAGES}
    row["write_s"] = run["seconds"] - timings.get("total_s", 0.0)
    row["write_peak_mib"] = run["peak_mib"]
    return row


def bench_size(data: Path, size: int, repeat: int, skip_recon: bool, money: str) -> dict:
    pos, bank = ensure_data(data, size, money)
    runs: dict[str, list[dict]] = {"recon": [], "floor": []}
    for i in range(repeat):
        for what in ("floor", "recon"):
            if what == "recon" and skip_recon:
                continue
            out = data / str(size) / f"out-{what}"
            shutil.rmtree(out, ignore_errors=True)
            if what == "recon":
                cmd = [*recon_command(), "run", "--pos", str(pos), "--bank", str(bank)]
                cmd += ["--out", str(out), "--quiet"]
            else:
                cmd = [sys.executable, str(Path(__file__).resolve()), "_floor"]
                cmd += [str(pos), str(bank), str(out)]
            r = run_measured(cmd)
            ok = r["rc"] == 0 or (what == "recon" and r["rc"] == 1)
            status = "ok" if ok else f"FAILED (exit {r['rc']})"
            print(
                f"  size={size} {what} run {i + 1}/{repeat}: {r['seconds']:.2f}s "
                f"{r['peak_mib']:.0f} MiB {status}",
                flush=True,
            )
            if not ok:
                print(r["stderr"], file=sys.stderr)
            r["ok"] = ok
            if what == "recon" and ok:
                r["stages"] = stage_row(out, r)
            runs[what].append(r)

    def summary(what: str) -> dict:
        good = [r for r in runs[what] if r["ok"]]
        if not good:
            return {"median_s": None, "peak_mib": None, "runs_s": []}
        return {
            "median_s": statistics.median(r["seconds"] for r in good),
            "peak_mib": max(r["peak_mib"] for r in good),
            "runs_s": [round(r["seconds"], 3) for r in good],
        }

    rec, flo = summary("recon"), summary("floor")
    ratio = rec["median_s"] / flo["median_s"] if rec["median_s"] and flo["median_s"] else None
    staged = [r["stages"] for r in runs["recon"] if r.get("stages")]
    # per stage: the median seconds over the runs, and the highest peak
    stages = {
        s: {
            "s": statistics.median(r[f"{s}_s"] for r in staged),
            "peak_mib": max(r[f"{s}_peak_mib"] or 0 for r in staged),
        }
        for s in (*STAGES, "write")
        if staged and all(r.get(f"{s}_s") is not None for r in staged)
    }
    return {
        "size": size,
        "money": money,
        "recon": rec,
        "floor": flo,
        "ratio": ratio,
        "stages": stages,
    }


def stage_table(results: list[dict]) -> str:
    """Where the time and memory go: one row per size, seconds (median) and peak MiB by the
    end of each stage."""
    names = (*STAGES, "write")
    head = " | ".join(f"{n} s | {n} peak MiB" for n in names)
    lines = [f"| rows per side | money | {head} |", "| ---: | --- |" + " ---: |" * 2 * len(names)]
    for r in results:
        st = r.get("stages") or {}
        cells = " | ".join(
            f"{st[n]['s']:.2f} | {st[n]['peak_mib']:.0f}" if n in st else "n/a | n/a" for n in names
        )
        lines.append(f"| {r['size']:,} | {r['money']} | {cells} |")
    return "\n".join(lines)


def table(results: list[dict]) -> str:
    def f(v: float | None, digits: int = 2) -> str:
        return "n/a" if v is None else f"{v:.{digits}f}"

    lines = [
        "| rows per side | money | recon median s | floor median s | ratio | recon peak MiB | "
        "floor peak MiB |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        rec, flo = r["recon"], r["floor"]
        lines.append(
            f"| {r['size']:,} | {r['money']} | {f(rec['median_s'])} | {f(flo['median_s'])} | "
            f"{f(r['ratio'], 1)} | {f(rec['peak_mib'], 0)} | {f(flo['peak_mib'], 0)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_measure"]:  # the per-measurement wrapper
        cmd = argv[2:] if argv[1:2] == ["--"] else argv[1:]
        print(json.dumps(measure(cmd)))
        return 0
    if argv[:1] == ["_floor"]:
        floor(Path(argv[1]), Path(argv[2]), Path(argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("bench-data"))
    parser.add_argument("--skip-recon", action="store_true", help="time only the floor")
    parser.add_argument(
        "--money",
        choices=("decimal", "text", "both"),
        default="decimal",
        help="amounts in the Parquet days as Decimal(18, 2) columns, as text, or both",
    )
    args = parser.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    kinds = ("decimal", "text") if args.money == "both" else (args.money,)
    results = [
        bench_size(args.data, size, args.repeat, args.skip_recon, money)
        for size in args.sizes
        for money in kinds
    ]
    md = table(results) + "\n\n" + stage_table(results)
    print()
    print(md)
    meta = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": __import__("os").cpu_count(),
        "seed": SEED,
        "repeat": args.repeat,
    }
    (args.data / "results.json").write_text(
        json.dumps({"meta": meta, "results": results, "table": md}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
