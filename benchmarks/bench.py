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


def ensure_data(data: Path, size: int) -> tuple[Path, Path]:
    folder = data / str(size)
    meta = folder / "meta.json"
    want = {"rows": size, "seed": SEED, "generator": GENERATOR_VERSION}
    if meta.exists() and json.loads(meta.read_text()) == want:
        return folder / "pos.parquet", folder / "bank.parquet"
    # Generate in a child so this process stays small.
    code = (
        "import sys, time; from pathlib import Path; "
        "from recon.generate import generate_day, write_day; "
        "t = time.perf_counter(); d = generate_day(int(sys.argv[1]), int(sys.argv[2])); "
        "g = time.perf_counter() - t; write_day(d, Path(sys.argv[3]), 'parquet'); "
        "print(f'generated {sys.argv[1]} rows per side in {g:.1f}s, '"
        "f'written in {time.perf_counter() - t - g:.1f}s')"
    )
    print(f"generating {size} rows into {folder} ...", flush=True)
    subprocess.run([sys.executable, "-c", code, str(size), str(SEED), str(folder)], check=True)
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


def bench_size(data: Path, size: int, repeat: int, skip_recon: bool) -> dict:
    pos, bank = ensure_data(data, size)
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
    return {"size": size, "recon": rec, "floor": flo, "ratio": ratio}


def table(results: list[dict]) -> str:
    def f(v: float | None, digits: int = 2) -> str:
        return "n/a" if v is None else f"{v:.{digits}f}"

    lines = [
        "| rows per side | recon median s | floor median s | ratio | recon peak MiB | "
        "floor peak MiB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        rec, flo = r["recon"], r["floor"]
        lines.append(
            f"| {r['size']:,} | {f(rec['median_s'])} | {f(flo['median_s'])} | "
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
    args = parser.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    results = [bench_size(args.data, size, args.repeat, args.skip_recon) for size in args.sizes]
    md = table(results)
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
