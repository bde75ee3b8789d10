#!/usr/bin/env python
"""What stalls training between epochs (issue 16): each per-epoch extra as a share of an epoch's training pass.

    python benchmarks/bench_epoch.py --threads 1              # about 2 minutes on a 2-core CPU (more on a busy one)
    python benchmarks/bench_epoch.py --modes sync             # the checkpoint written in the training thread only
    python benchmarks/bench_epoch.py --batches 0 --epochs 3   # whole epochs (about 1 minute per epoch here)
    python benchmarks/bench_epoch.py --arch resnet50 --height 256 --width 128 --n-ids 920 --device cuda   # the paper's shapes

The data: a synthetic `folder` dataset, 6 cameras at 64x32 (--n-ids 200: 2,776 training images in 674 tracklets, 278 of
them in fastai's `valid` loader, `valid_pct=0.1`), written once under --root and reused. The model: resnet10t from
scratch with the 1,024-d embedding, batch 60, on the CPU. One process runs, for each checkpoint mode of --modes (`sync`:
`TrainingCheckpoint(background=False)`, the library before issue 16; `background`: the default now), `fit_intra(2)` then
`fit_inter(2)` on a fresh learner (seed 0), and times each phase by wrapping the library's own methods:

  training pass (N batches)  fastai's training batches of one epoch: the 100% of the table. To keep the run short only the
                             first --batches of every epoch train (the rest of the epoch is real), and the pass is the
                             seconds per batch times all N batches
  validation pass            fastai's `valid` loader: loss and intra-camera accuracy, every epoch
  CVG rebuild                `CVGUpdate.update` (`build_cvg` over the classifier's rows): before the inter stage, then
                             before every later epoch
  centroid swap              `CentroidSwap.before_fit`: the feature pass over every training image (`tracklet_centroids`),
                             once per inter stage; its share is of one epoch
  checkpoint (after_epoch)   what the training thread spends on the checkpoint at an epoch's end: sync, the whole write;
                             background, the state, its CPU copy (next row), the thread's start and any wait for the last write
  checkpoint CPU copy        background: the copy of every tensor to the CPU (`_snapshot`), part of the row above
  checkpoint (after_fit)     background: the wait for the last write at the end of the stage (no epoch left to overlap it)
  checkpoint write           `atomic_save` itself (`torch.save`, flush, fsync, rename), wherever it runs: in background mode,
                             in its own thread while the next epoch trains
  epoch outside training     the whole epoch (first `before_epoch` to last `after_epoch`) less its training pass: what the
  pass (wall)                GPU would wait for

Rows are seconds per call and per epoch (mean), and the per-epoch seconds as a percentage of the stage's training pass. On
a CPU the background write takes cores from training, so some of its time comes back as a slower training pass; on a GPU
the training thread mostly queues kernels and the write overlaps. Also printed: the checkpoint file's size. The modes run
one after the other in one process so that their ratios compare; on a shared machine, --threads 1 steadies the timings.
"""
import argparse, inspect, os, platform, shutil, tempfile, threading, time, warnings
from collections import defaultdict
from pathlib import Path
warnings.filterwarnings('ignore')
import torch
from fastai.callback.core import Callback, CancelTrainException
import uga_fast.checkpoint as ckmod
from uga_fast.callbacks import CentroidSwap, CVGUpdate
from uga_fast.checkpoint import TrainingCheckpoint
from uga_fast.datasets import load_reid
from uga_fast.learner import UGALearner
from uga_fast.sampler import ReIDDataLoaders
from uga_fast.synthetic import write_synthetic

T = defaultdict(list)       # (mode/stage, phase) -> seconds of each occurrence
STAGE = ['']                # the mode/stage being trained, for the wrappers
WRAPPED = []                # (object, name, its own attribute before wrapping or None)

def timed(obj, name, phase):
    "Wrap `obj.name` (a no-op if it has none) to add its duration to `T[(stage, phase)]`; recursive calls count in the outer one"
    orig, depth = getattr(obj, name, None), threading.local()
    WRAPPED.append((obj, name, vars(obj).get(name)))
    def f(*args, **kw):
        if getattr(depth, 'n', 0): return orig(*args, **kw)
        t0, depth.n = time.perf_counter(), 1
        try: return orig(*args, **kw) if orig is not None else None
        finally: depth.n = 0; T[STAGE[0], phase].append(time.perf_counter() - t0)
    setattr(obj, name, f)

def unwrap():
    while WRAPPED:
        obj, name, own = WRAPPED.pop()
        if own is not None: setattr(obj, name, own)
        else: delattr(obj, name)

CLOCK = {}
def lap(k, phase): T[STAGE[0], phase].append(time.perf_counter() - CLOCK.pop(k))

class Start(Callback):
    "Starts the clocks of the epoch, the training pass and the validation pass: the first callback to run"
    order = -1000
    def before_epoch(self): CLOCK['epoch'] = time.perf_counter()
    def before_train(self): CLOCK['train'] = time.perf_counter()
    def before_validate(self): CLOCK['valid'] = time.perf_counter()

class Stop(Callback):
    "Stops them, the last callback to run; ends the training pass after `batches` batches (0: all)"
    order = 1000
    def __init__(self, batches:int=0): self.batches = batches
    def after_batch(self):
        if self.training and self.batches and self.iter + 1 >= self.batches: raise CancelTrainException()
    def after_epoch(self): lap('epoch', 'epoch (wall)')
    def after_train(self): lap('train', 'training pass'); T[STAGE[0], 'batches'].append(self.iter + 1)
    def after_validate(self): lap('valid', 'validation pass')

def instrument(background:bool):
    "Wrap the phases; make every `TrainingCheckpoint` write in the `background` or not"
    timed(CVGUpdate, 'update', 'CVG rebuild')
    timed(CentroidSwap, 'before_fit', 'centroid swap')
    timed(TrainingCheckpoint, 'after_epoch', 'checkpoint (after_epoch)')
    if hasattr(TrainingCheckpoint, 'after_fit'): timed(TrainingCheckpoint, 'after_fit', 'checkpoint (after_fit)')
    timed(ckmod, 'atomic_save', 'checkpoint write')
    if hasattr(ckmod, '_snapshot'): timed(ckmod, '_snapshot', 'checkpoint CPU copy')
    init = TrainingCheckpoint.__init__
    def __init__(self, *args, **kw): init(self, *args, **kw); self.background = background
    WRAPPED.append((TrainingCheckpoint, '__init__', vars(TrainingCheckpoint).get('__init__')))
    TrainingCheckpoint.__init__ = __init__

def run_mode(mode, dls, a, work)->int:
    "fit_intra then fit_inter on a fresh learner; the phases' times land in T under (mode/stage, phase). The checkpoint's size"
    instrument(mode == 'background')
    try:
        learn = UGALearner(dls, arch=a.arch, pretrained=False, emb_dim=1024, seed=0, path=work/mode)
        with learn.no_bar(), learn.no_logging():
            STAGE[0] = f'{mode}/intra'; learn.fit_intra(a.epochs, cbs=[Start(), Stop(a.batches)])
            size = learn.checkpoint_path('intra').stat().st_size
            STAGE[0] = f'{mode}/inter'; learn.fit_inter(a.epochs, cbs=[Start(), Stop(a.batches)])
        return size
    finally: unwrap()                                  # the next mode wraps the originals

ONCE = {'centroid swap'}     # once per stage: its share is of one epoch; the other phases' are per epoch
PHASES = ['validation pass', 'CVG rebuild', 'centroid swap', 'checkpoint (after_epoch)', 'checkpoint CPU copy', 'checkpoint (after_fit)',
          'checkpoint write']

def report(modes, n_iter:int):
    "Per mode and stage: each phase's calls, seconds per call and per epoch, and its share of a whole epoch's training pass"
    print(f"\n{'mode/stage':<17} {'phase':<35} {'calls':>5} {'s/call':>8} {'s/epoch':>8} {'% of train pass':>16}")
    for key in [f'{m}/{s}' for m in modes for s in ('intra', 'inter')]:
        passes, batches = T[key, 'training pass'], T[key, 'batches']
        n_ep, ran = len(passes), sum(batches)
        train = sum(passes) / ran * n_iter                 # seconds of a whole epoch's training pass, from the batches run
        outside = (sum(T[key, 'epoch (wall)']) - sum(passes)) / n_ep
        print(f"{key:<17} {f'training pass ({n_iter} batches)':<35} {n_ep:>5} {train:8.3f} {train:8.3f} {100.:15.1f}%"
              + (f"   (from {ran} batches)" if ran < n_ep * n_iter else ''))
        for phase in PHASES:
            v = T.get((key, phase))
            if not v: continue
            per_call, per_epoch = sum(v) / len(v), sum(v) / n_ep
            share = 100 * (per_call if phase in ONCE else per_epoch) / train
            print(f"{key:<17} {phase:<35} {len(v):>5} {per_call:8.3f} {'-' if phase in ONCE else f'{per_epoch:.3f}':>8} {share:15.1f}%")
        print(f"{key:<17} {'epoch outside training pass (wall)':<35} {n_ep:>5} {outside:8.3f} {outside:8.3f} {100 * outside / train:15.1f}%\n")

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--root', default='', help='where the synthetic folder is written once and reused (default: a folder named by '
                    '--n-ids, --height and --width under the system temp folder)')
    ap.add_argument('--n-ids', type=int, default=200, help='training identities (about 14 images each)')
    ap.add_argument('--arch', default='resnet10t'); ap.add_argument('--bs', type=int, default=60)
    ap.add_argument('--height', type=int, default=64); ap.add_argument('--width', type=int, default=32)
    ap.add_argument('--epochs', type=int, default=2, help='epochs of each stage, per mode (2 or more: a background write overlaps the next epoch)')
    ap.add_argument('--batches', type=int, default=12, help='training batches run per epoch, the training pass extrapolated to all (0: all)')
    ap.add_argument('--modes', nargs='+', default=['sync', 'background'], choices=['sync', 'background'],
                    help='checkpoint modes, run one after the other in this process')
    ap.add_argument('--device', default='cpu'); ap.add_argument('--num-workers', type=int, default=0)
    ap.add_argument('--threads', type=int, default=0, help="torch's CPU threads (default: torch's choice); 1 steadies the timings of a busy machine")
    a = ap.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    if 'background' in a.modes and 'background' not in inspect.signature(TrainingCheckpoint.__init__).parameters:
        print("this TrainingCheckpoint has no background switch: sync mode only"); a.modes = [m for m in a.modes if m != 'background'] or ['sync']
    cpu = next((l.split(':')[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor())
    print(f"machine: {os.cpu_count()} cores, {cpu}; torch {torch.__version__} ({torch.get_num_threads()} threads); device {a.device}")
    t0 = time.time()
    root = a.root or Path(tempfile.gettempdir())/'uga_bench_epoch'/f'ids{a.n_ids}-{a.height}x{a.width}'
    root = write_synthetic(root, n_ids=a.n_ids, n_test_ids=20, n_cams=6, size=(a.height, a.width), frames=(2, 6), seed=0)
    data = load_reid('folder', root, seed=0)
    dls = ReIDDataLoaders.from_reid(data, bs=a.bs, size=(a.height, a.width), seed=0, num_workers=a.num_workers, device=a.device)
    print(f"data: {len(data.train):,} training images in {len(dls.node_cam):,} tracklets, 6 cameras, {a.height}x{a.width}; "
          f"{len(dls.train)} training batches of {a.bs}, {len(dls.valid.dataset)} validation images; {a.arch} from scratch, "
          f"{a.epochs} + {a.epochs} epochs per mode" + (f", {a.batches} training batches of each" if a.batches else ''))
    work = Path(tempfile.mkdtemp(prefix='bench_epoch_'))
    try:
        for mode in a.modes:
            size = run_mode(mode, dls, a, work)
            print(f"  {mode}: done ({time.time() - t0:.0f} s); checkpoint file {size / 2**20:.1f} MiB", flush=True)
        report(a.modes, len(dls.train))
    finally: shutil.rmtree(work, ignore_errors=True)
    print(f'{time.time() - t0:.0f} s')

if __name__ == '__main__': main()
