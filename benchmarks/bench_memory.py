#!/usr/bin/env python
"""Peak memory (RSS) of `uga-fast train` on a Market-1501-sized image folder, fresh and resumed (issue 14).

    python benchmarks/bench_memory.py                        # about 8 minutes on a 2-core CPU
    python benchmarks/bench_memory.py --root /data/market_like --keep
    python benchmarks/bench_memory.py --control               # the control: without `LossAsFloat` (the library before issue 14)

The data: a synthetic `folder` dataset the size of Market-1501's training split at 64x32 (6 cameras, 13,154 training images
in 3,282 tracklets, against Market's 12,936 in 3,262; 385 query and 1,791 gallery images), written once under --root and
reused. Every run is a separate process, measured by the peak resident set size the kernel reports for it (`wait4`'s
ru_maxrss), with resnet10t from scratch (--pretrained none), one epoch per stage, on the CPU:

  load + learner     the data read and a `UGALearner` built (the baseline of the ratio column)
  train              intra 1 epoch, inter 1 epoch, evaluation after each stage, checkpoints every epoch
  interrupted        the same run with 2 inter epochs, stopped with SIGINT once the inter stage's first checkpoint is
                     written (its intra stage is the `train` row's, resumed from a copy of that checkpoint)
  --resume (inter)   that interrupted run continued: intra finished (evaluated again), inter from epoch 2 of 2
  --resume (done)    `train` again over the finished `train` run: both stages loaded and evaluated, nothing trained

The number to watch is the peak of the rows that train. Before issue 14 it grew with every training batch of the process: fastai's
Recorder keeps one 0-d CPU tensor per batch, and those fragment glibc's heap (~7 MB of RSS a batch in the inter stage), so a
longer stage peaked ever higher, resumed or not. `LossAsFloat` keeps floats instead; `--control` switches it off to show the
difference in the same setting. The issue's target: under 4 GB on a CPU, resume or not.
"""
import argparse, json, os, platform, re, shutil, signal, subprocess, sys, tempfile, time
from pathlib import Path

SIZE = dict(n_ids=920, n_test_ids=100, n_cams=6, size=(64, 32), frames=(2, 6), seed=0)   # ≈ Market-1501's training split

# --control: the library as it was before issue 14, with `LossAsFloat` (the fix) switched off
CONTROL = 'from uga_fast.callbacks import LossAsFloat\nLossAsFloat.after_batch = lambda self: None\n'
MAIN = 'import sys\nfrom uga_fast.cli import main\nsys.exit(main(sys.argv[1:]))\n'
BASELINE = '''
import sys, warnings
warnings.filterwarnings('ignore')
from uga_fast.datasets import load_reid
from uga_fast.sampler import ReIDDataLoaders
from uga_fast.learner import UGALearner
root, arch, bs, h, w, nw = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
ds = load_reid('folder', root, seed=0)
dls = ReIDDataLoaders.from_reid(ds, bs=bs, size=(h, w), seed=0, num_workers=nw, device='cpu')
learn = UGALearner(dls, arch=arch, pretrained=False, emb_dim=1024, seed=0)
learn.create_opt()
'''

def run(cmd:list, log:Path, stop_when:Path|None=None, env=None)->tuple:
    "Run `cmd` (output to `log`); SIGINT it once `stop_when` exists. (exit code, peak RSS in bytes, seconds)"
    t0 = time.time()
    with open(log, 'w') as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,   # SIGINT reaches Python even when run in the background
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        if stop_when is not None:
            while p.poll() is None and not stop_when.exists(): time.sleep(0.2)
            if p.poll() is None: p.send_signal(signal.SIGINT)
        _, status, ru = os.wait4(p.pid, 0)            # this child's own peak, not the largest of all children so far
        p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, ru.ru_maxrss * 1024, time.time() - t0   # ru_maxrss is in KiB on Linux

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--root', default=str(Path(tempfile.gettempdir())/'uga_bench_memory'/'market_like'),
                    help='where the Market-sized folder is written once and reused (default: under the system temp folder)')
    ap.add_argument('--work', default='', help='folder of the runs (default: a new temporary folder, removed unless --keep)')
    ap.add_argument('--keep', action='store_true', help='keep the runs folder (checkpoints and logs)')
    ap.add_argument('--arch', default='resnet10t'); ap.add_argument('--bs', type=int, default=60)
    ap.add_argument('--height', type=int, default=64); ap.add_argument('--width', type=int, default=32)
    ap.add_argument('--intra-epochs', type=int, default=1); ap.add_argument('--inter-epochs', type=int, default=1)
    ap.add_argument('--num-workers', type=int, default=0)
    ap.add_argument('--threads', type=int, default=0, help='OMP_NUM_THREADS of the runs (default: as set here)')
    ap.add_argument('--control', action='store_true', help="switch LossAsFloat off: the library before issue 14's fix")
    a = ap.parse_args()
    if a.inter_epochs < 1: ap.error('--inter-epochs must be >= 1 (the interrupted row stops in the inter stage)')
    import torch
    from uga_fast.synthetic import write_synthetic
    env = dict(os.environ, **({'OMP_NUM_THREADS': str(a.threads)} if a.threads else {}))
    cpu = next((l.split(':')[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor())
    print(f"machine: {os.cpu_count()} cores, {cpu}; torch {torch.__version__}; OMP_NUM_THREADS={env.get('OMP_NUM_THREADS', 'unset')}")
    t0 = time.time()
    root = write_synthetic(a.root, **SIZE)
    n = json.loads((root/'synthetic.json').read_text())['counts']
    print(f"data: {root} ({time.time() - t0:.0f} s): {n['train']:,} training images in {n['train_tracklets']:,} tracklets, "
          f"{n['query']} query, {n['gallery']:,} gallery, {SIZE['n_cams']} cameras, {a.height}x{a.width}")
    print(f"runs: {a.arch} from scratch, bs {a.bs}, intra {a.intra_epochs} + inter {a.inter_epochs} epochs, "
          f"{a.num_workers} loader workers, cpu" + (", CONTROL: LossAsFloat switched off" if a.control else ''))
    work = Path(a.work or tempfile.mkdtemp(prefix='bench_memory_')); work.mkdir(parents=True, exist_ok=True)
    py = [sys.executable, '-c', (CONTROL if a.control else '') + MAIN]
    train = lambda out, inter, *extra: [*py, 'train', '--data', 'folder', '--root', str(root), '--out', str(out), '--arch', a.arch,
                                        '--pretrained', 'none', '--bs', str(a.bs), '--height', str(a.height), '--width', str(a.width),
                                        '--intra-epochs', str(a.intra_epochs), '--inter-epochs', str(inter),
                                        '--num-workers', str(a.num_workers), '--device', 'cpu', *extra]
    fresh, stopped = work/'train', work/'interrupted'
    rows = []
    def row(name, cmd, ok=(0,), **kw):
        log = work/f"{re.sub(r'[^a-z]+', '_', name).strip('_')}.log"
        rc, peak, secs = run(cmd, log, env=env, **kw)
        if rc not in ok: raise SystemExit(f"{name}: exit code {rc}; see {log}")
        rows.append((name, peak, secs)); print(f"  {name:<18} {peak / 2**30:6.2f} GB  {secs:5.0f} s", flush=True)
    try:
        row('load + learner', [sys.executable, '-c', BASELINE, str(root), a.arch, str(a.bs), str(a.height), str(a.width), str(a.num_workers)])
        row('train', train(fresh, a.inter_epochs))
        if a.intra_epochs:                             # the interrupted run's intra stage: the finished one of `train`
            (stopped/'models').mkdir(parents=True, exist_ok=True)
            shutil.copy(fresh/'models'/'checkpoint_intra.pth', stopped/'models'/'checkpoint_intra.pth')
        row('interrupted', train(stopped, a.inter_epochs + 1, '--resume'), ok=(130,), stop_when=stopped/'models'/'checkpoint_inter.pth')
        row('--resume (inter)', train(stopped, a.inter_epochs + 1, '--resume'))
        row('--resume (done)', train(fresh, a.inter_epochs, '--resume'))
    finally:
        if rows:
            base = rows[0][1]
            print(f"\npeak RSS per run (GB; ratio to '{rows[0][0]}'):")
            print(f"  {'run':<18} {'peak GB':>8} {'ratio':>6} {'time s':>7}")
            for name, peak, secs in rows: print(f"  {name:<18} {peak / 2**30:8.2f} {peak / base:6.2f} {secs:7.0f}")
            print(f"  {'target':<18} {4.0:8.2f}")
        if a.keep or a.work: print(f"\nruns and logs in {work}")
        else: shutil.rmtree(work, ignore_errors=True)
    print(f'\n{time.time() - t0:.0f} s')

if __name__ == '__main__': main()
