#!/usr/bin/env python
"""Start-up time: importing the library and answering `uga-fast --help`, against importing fastai itself.

    python benchmarks/bench_import.py          # 5 rounds; about a minute on a 2-core CPU
    python benchmarks/bench_import.py --n 9    # more rounds on a noisy machine

Each case is a fresh Python process (`python -c ...`, or the `uga-fast` entry point), timed from the parent with
`time.perf_counter` around `subprocess.run`: interpreter start, imports and exit included. The cases run in
alternating order, round after round (one run of each case per round), so that a burst of load on a shared machine
falls on all of them alike; the table reports the median and the fastest of the N runs and the ratio of medians to
the baseline, `from fastai.vision.all import *`, measured in the same run.

Goals: `import uga_fast.all` at most 1.2x the baseline (the library adds little to fastai's own start-up), and
`uga-fast --help` / `uga-fast train --help` under 2 s (the CLI imports torch and fastai only when a command runs).
"""
import argparse, os, platform, shutil, statistics, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def _cli():
    "The `uga-fast` entry point of this interpreter's environment, else the same call through `python -c`"
    exe = Path(sys.executable).parent/'uga-fast'
    if exe.is_file(): return [str(exe)]
    if (w := shutil.which('uga-fast')): return [w]
    return [sys.executable, '-c', "import sys; sys.argv[0] = 'uga-fast'; from uga_fast.cli import main; sys.exit(main())"]

def cases():
    py, cli = [sys.executable, '-c'], _cli()
    return {'from fastai.vision.all import *  (baseline)': py + ['from fastai.vision.all import *'],
            'import uga_fast.all': py + ['import uga_fast.all'],
            'import uga_fast': py + ['import uga_fast'],
            'uga-fast --help': cli + ['--help'],
            'uga-fast train --help': cli + ['train', '--help']}

def time_once(cmd) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t
    if r.returncode: raise SystemExit(f"{' '.join(cmd)} failed (exit {r.returncode}):\n{r.stderr[-2000:]}")
    return dt

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=5, help='rounds (runs of each case)')
    a = ap.parse_args()
    cs = cases()
    for cmd in cs.values(): time_once(cmd)                      # warm-up: file-system cache and .pyc files
    times = {k: [] for k in cs}
    for _ in range(a.n):
        for k, cmd in cs.items(): times[k].append(time_once(cmd))
    base = statistics.median(next(iter(times.values())))
    print(f"Start-up time, N={a.n} alternating runs each, fresh processes "
          f"(Python {platform.python_version()}, {os.cpu_count()} CPUs)")
    print("Goal: `import uga_fast.all` <= 1.2x fastai.vision.all; `uga-fast --help` and `train --help` < 2 s\n")
    w = max(map(len, cs))
    print(f"{'case':<{w}}  {'median s':>8}  {'min s':>6}  {'x base':>6}")
    for k, ts in times.items():
        med = statistics.median(ts)
        print(f"{k:<{w}}  {med:8.2f}  {min(ts):6.2f}  {med/base:6.2f}")

if __name__ == '__main__': main()
