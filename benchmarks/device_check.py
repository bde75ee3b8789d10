"""One GPU check of issue 16 ("speed"), no network: random weights, generated images. Prints a table of

- train images/s and peak GPU memory of ResNet-50 at 256x128, batch 60 (`UGALearner(pretrained=False)`, fastai's loop on
  in-memory batches, so the loader is not measured): fp32, AMP (bf16 where the GPU has it), AMP + channels-last, the same with
  cuDNN's autotuner (a `seed` turns it off: fastai's `set_seed(reproducible=True)`), AMP + channels-last + torch.compile;
- loader images/s of `ReIDDataLoaders.from_reid` over a folder of generated JPEGs, `num_workers` = the machine's cores;
- `evaluate_features` at MSMT17 size (11,659 query x 82,161 gallery, 1024-d random features, 15 cameras): time and peak memory;
- `build_cvg` at 50,000 random normalised 1024-d nodes over 15 cameras;
- a 2 + 2 epoch two-stage run (`fit_intra(2)`, `fit_inter(2)`) at 256x128 with ResNet-50: finite losses, a graph built,
  and the host syncs per training step that come from uga_fast's own code (CUDA's sync debug mode; on a CPU, explicit
  `.item()`/`.cpu()`/`.tolist()`/`.numpy()` calls).

    bash benchmarks/device_check.sh            # on a GPU, under 8 minutes on one H200
    bash benchmarks/device_check.sh --smoke    # the same code path on the CPU, tiny sizes, well under 2 minutes

Each row is printed as soon as it is measured (a run cut short keeps what it had), then the whole table.
"""
import argparse, contextlib, os, tempfile, time, traceback, warnings
from pathlib import Path
import numpy as np, torch
from fastai.learner import Learner
from fastai.callback.core import Callback, CancelValidException
from fastai.callback.progress import ProgressCallback
from fastai.torch_core import noop

UGA_DIR = str(Path(__file__).resolve().parents[1]/'uga_fast') + os.sep
HOST_METHODS = ('item', 'cpu', 'tolist', 'numpy')

# ---------------------------------------------------------------- host transfers inside the per-batch events
class _Batch:
    "Whether fastai is inside `one_batch` (before_batch ... after_batch), and in which mode"
    active, training, n_train = False, None, 0

@contextlib.contextmanager
def _in_batches():
    "Track fastai's `Learner.one_batch` (patched for the duration)"
    orig = Learner.one_batch
    def one_batch(self, i, b):
        _Batch.active, _Batch.training = True, self.training
        _Batch.n_train += bool(self.training)
        try: return orig(self, i, b)
        finally: _Batch.active = False
    Learner.one_batch, _Batch.n_train = one_batch, 0
    try: yield _Batch
    finally: Learner.one_batch = orig

def _uga_frames(stack)->list:
    "The frames of uga_fast's own files in `stack` (a list of `FrameSummary`), below fastai's `one_batch`"
    start = max((i for i, f in enumerate(stack) if f.name == 'one_batch'), default=-1)
    return [f for f in stack[start + 1:] if f.filename.startswith(UGA_DIR)]

def _where(f)->str: return f"{f.filename[len(UGA_DIR):]}:{f.lineno} {f.name}"

@contextlib.contextmanager
def record_host_calls(methods=HOST_METHODS):
    """Record the calls of `torch.Tensor.<method>` inside fastai's per-batch events: a list of dicts with `method`,
    `device` (of the tensor), `training`, `uga` (uga_fast frames of the call, innermost last) and `caller` (innermost frame)"""
    calls = []
    orig = {m: torch.Tensor.__dict__.get(m) for m in methods}      # None: inherited from torch._C.TensorBase
    def wrap(m, f):
        def g(self, *args, **kwargs):
            if _Batch.active:
                st = traceback.extract_stack()[:-1]
                calls.append(dict(method=m, device=self.device.type, training=_Batch.training, uga=[_where(x) for x in _uga_frames(st)],
                                  caller=f"{st[-1].filename}:{st[-1].lineno} {st[-1].name}"))
            return f(self, *args, **kwargs)
        return g
    with _in_batches():
        for m in methods: setattr(torch.Tensor, m, wrap(m, getattr(torch.Tensor, m)))
        try: yield calls
        finally:
            for m, f in orig.items():
                if f is None: delattr(torch.Tensor, m)
                else: setattr(torch.Tensor, m, f)

@contextlib.contextmanager
def record_cuda_syncs():
    "CUDA's sync debug mode inside fastai's per-batch events: a list of dicts with `training` and `uga` (as `record_host_calls`)"
    syncs, show = [], warnings.showwarning
    def on_warning(message, category, filename, lineno, file=None, line=None):
        if 'synchroniz' not in str(message): return show(message, category, filename, lineno, file, line)
        if _Batch.active: syncs.append(dict(training=_Batch.training, uga=[_where(x) for x in _uga_frames(traceback.extract_stack()[:-1])],
                                            caller=f"{filename}:{lineno}"))
    with _in_batches(), warnings.catch_warnings():
        warnings.simplefilter('always'); warnings.showwarning = on_warning
        torch.cuda.set_sync_debug_mode('warn')
        try: yield syncs
        finally: torch.cuda.set_sync_debug_mode('default')

# ---------------------------------------------------------------- helpers
def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize(dev)

def peak_reset(dev):
    if dev.type == 'cuda': sync(dev); torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats(dev)

def peak_gb(dev)->float:
    return torch.cuda.max_memory_allocated(dev)/2**30 if dev.type == 'cuda' else float('nan')

ROWS = []
def row(name:str, value:float, unit:str, peak:float=float('nan'), note:str=''):
    "Record and print one row of the table"
    ROWS.append((name, value, unit, peak, note))
    print(_fmt(ROWS[-1]), flush=True)

def _fmt(r)->str:
    name, value, unit, peak, note = r
    p = '-' if peak != peak else f"{peak:.2f}"
    return f"{name:<28}{value:>12.4g} {unit:<10}{p:>12}  {note}"

def quiet(learn):
    learn.remove_cb(ProgressCallback); learn.logger = noop
    return learn

# ---------------------------------------------------------------- the rows
class _Steps(Callback):
    "Time stamps after every training batch (after a synchronize); no validation"
    order = 100
    def before_fit(self): self.t = []
    def before_validate(self): raise CancelValidException()
    def after_batch(self):
        if self.training: sync(self.dls.device); self.t.append(time.perf_counter())

def train_rows(dls, cfg, dev):
    "images/s of fastai's training loop on in-memory batches, per precision/layout/compile setting"
    from uga_fast.learner import UGALearner
    H, W = cfg.size
    xb = torch.randn(cfg.bs, 3, H, W, device=dev)
    yb = torch.randint(0, len(dls.node_cam), (cfg.bs,), device=dev)
    amp = 'bf16' if dev.type != 'cuda' or torch.cuda.is_bf16_supported(including_emulation=False) else 'fp16'
    settings = [('train fp32', dict(precision='fp32', channels_last=False)),
                (f'train amp-{amp}', dict(precision=amp, channels_last=False)),
                (f'train amp-{amp}+cl', dict(precision=amp, channels_last=True)),
                (f'train amp-{amp}+cl+cudnn-bm', dict(precision=amp, channels_last=True, bm=True)),
                (f'train amp-{amp}+cl+compile', dict(precision=amp, channels_last=True, compile=True))]
    for name, kw in settings:
        cheap = cfg.smoke and kw.get('compile') and not cfg.compile_smoke   # inductor takes minutes on a CPU: trace only
        bm = kw.pop('bm', False)
        learn = quiet(UGALearner(dls, arch=cfg.arch, pretrained=False, emb_dim=cfg.emb_dim, seed=0, path=cfg.tmp, **{**kw, 'compile': not cheap and kw.get('compile', False)}))
        if cheap: learn.model.compile(backend='aot_eager')
        # a seed (the CLI's default 0) makes fastai's set_seed(reproducible=True) turn cuDNN's autotuner off, its deterministic algorithms on;
        # the cudnn-bm row measures what that costs
        flags = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
        if bm: torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = True, False
        n = cfg.warmup + cfg.steps
        train = learn.dls.loaders[0]
        learn.dls.loaders[0] = [(xb, yb)]*n                      # in memory: the loader is not measured
        timer = _Steps()
        peak_reset(dev); t0 = time.perf_counter()
        try: learn.fit(1, lr=1e-4, cbs=timer)
        finally: learn.dls.loaders[0] = train
        t = timer.t
        secs = (t[-1] - t[cfg.warmup - 1])/cfg.steps
        row(name, cfg.bs/secs, 'img/s', peak_gb(dev), f"{secs*1e3:.1f} ms/step; warm-up {t[cfg.warmup - 1] - t0:.1f} s" +
            ("; --smoke: aot_eager backend (--compile: inductor)" if cheap else ''))
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = flags
        del learn
        if dev.type == 'cuda': torch.cuda.empty_cache()

def make_jpegs(src, root:Path, copies:int)->Path:
    "The images of `src` (a ReIDData) as JPEGs in the `folder` layout, `copies` tracklets per original one"
    from PIL import Image
    for i, r in enumerate(src.train.itertuples()):
        img = Image.open(r.path).convert('RGB')
        for c in range(copies):
            d = root/f'cam{r.cam}'/f't{r.tracklet}_{c}'; d.mkdir(parents=True, exist_ok=True)
            img.save(d/f'{i}.jpg', quality=90)
    return root

def loader_row(src, cfg, dev):
    "images/s of the training loader over generated JPEGs, with the machine's cores"
    from uga_fast.datasets import load_reid
    from uga_fast.sampler import ReIDDataLoaders
    data = load_reid('folder', make_jpegs(src, Path(cfg.tmp)/'jpegs', cfg.copies))
    dls = ReIDDataLoaders.from_reid(data, bs=cfg.bs, size=cfg.size, num_workers=cfg.workers, device=dev, seed=0)
    n, t0, t1 = 0, time.perf_counter(), None
    for i, (x, y) in enumerate(dls.train):
        if i == 0: sync(dev); t1 = time.perf_counter()               # first batch: the workers' start-up, apart
        else: n += len(x)
    sync(dev); t2 = time.perf_counter()
    row('loader', n/(t2 - t1), 'img/s', note=f"{len(data.train)} JPEGs, {cfg.workers} workers, first batch {t1 - t0:.1f} s")

def eval_row(cfg, dev):
    "evaluate_features on random features"
    from uga_fast.metrics import evaluate_features
    g = torch.Generator().manual_seed(0)
    nq, ng, d = cfg.eval_size
    qf, gf = torch.randn(nq, d, generator=g).to(dev), torch.randn(ng, d, generator=g).to(dev)
    qp, gp = torch.randint(0, cfg.n_pids, (nq,), generator=g).numpy(), torch.randint(0, cfg.n_pids, (ng,), generator=g).numpy()
    qc, gc = torch.randint(0, 15, (nq,), generator=g).numpy(), torch.randint(0, 15, (ng,), generator=g).numpy()
    peak_reset(dev); t = time.perf_counter()
    r = evaluate_features(qf, gf, qp, gp, qc, gc, device=dev)
    sync(dev)
    row('evaluate_features', time.perf_counter() - t, 's', peak_gb(dev), f"{nq}x{ng}x{d}; mAP {r['mAP']:.4f} (chance)")

def cvg_row(cfg, dev):
    "build_cvg on random normalised nodes"
    from uga_fast.graph import build_cvg
    g = torch.Generator().manual_seed(0)
    n, d = cfg.cvg_size
    feats = torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=1).to(dev)
    cams = torch.randint(0, 15, (n,), generator=g)                   # on the CPU, as `CVGUpdate` passes `dls.node_cam`
    peak_reset(dev); t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')                         # random nodes: build_cvg warns of a graph without edges
        W = build_cvg(feats, cams, lam=0.1)
    sync(dev)
    row('build_cvg', time.perf_counter() - t, 's', peak_gb(dev), f"{n} nodes x {d}, 15 cameras; {W._nnz()} entries")

def stages_row(data, cfg, dev):
    "fit_intra + fit_inter on the synthetic data: finite losses, a graph, and the host syncs per step from uga_fast"
    from uga_fast.sampler import ReIDDataLoaders
    from uga_fast.learner import UGALearner
    dls = ReIDDataLoaders.from_reid(data, bs=cfg.bs, size=cfg.size, device=dev, seed=0)
    learn = quiet(UGALearner(dls, arch=cfg.arch, pretrained=False, emb_dim=cfg.emb_dim, seed=0, path=cfg.tmp))
    rec = record_cuda_syncs() if dev.type == 'cuda' else record_host_calls()
    peak_reset(dev); t = time.perf_counter()
    with rec as calls:
        learn.fit_intra(cfg.epochs, lr=1e-3, checkpoint=False)
        learn.fit_inter(cfg.epochs, lr=5e-4, lam='auto', checkpoint=False)
        n_steps = _Batch.n_train
    secs = time.perf_counter() - t
    losses = np.concatenate([learn.history[s][['train_loss', 'valid_loss']].to_numpy().ravel() for s in ('intra', 'inter')])
    ok = bool(np.isfinite(losses).all()) and learn.cvg is not None and len(learn.cvg_rebuilds()) > 0
    row('two-stage run', secs, 's', peak_gb(dev), f"{'ok' if ok else 'FAILED'}: {cfg.epochs}+{cfg.epochs} epochs, {len(learn.cvg_rebuilds())} graphs, "
        f"{learn.cvg_rebuilds().edges.iloc[-1] if len(learn.cvg_rebuilds()) else 0} edges, precision {learn.precision}, channels_last {learn.channels_last}")
    ours = [c for c in calls if c['training'] and c['uga']]           # CUDA: every sync; CPU: the explicit calls, listed below
    syncs = [c for c in ours if c.get('device') != 'cpu']               # a call on a CPU tensor moves nothing
    kind = 'CUDA syncs (sync debug mode)' if dev.type == 'cuda' else 'calls on device tensors'
    row('uga host syncs/train step', len(syncs)/max(1, n_steps), 'per step', note=f"{kind} with a uga_fast frame, {n_steps} training steps")
    sites = {}
    for c in ours:
        k = c['uga'][-1] + (f" ({c['method']} on a {c['device']} tensor)" if 'method' in c else '')
        sites[k] = sites.get(k, 0) + 1
    for s, k in sorted(sites.items(), key=lambda x: -x[1]): print(f"    {k:>6} x {s}", flush=True)
    if not ok: raise SystemExit("the two-stage run failed: a loss is not finite or no graph was built")

# ---------------------------------------------------------------- main
def config(smoke:bool, compile_smoke:bool):
    "The sizes of the full check (a GPU) and of --smoke (the CPU)"
    c = argparse.Namespace(smoke=smoke, compile_smoke=compile_smoke, workers=os.cpu_count() or 1)
    if smoke: c.__dict__.update(arch='resnet10t', size=(32, 16), bs=12, emb_dim=32, warmup=1, steps=1, n_ids=12, n_cams=3, render=(32, 16),
                                copies=1, eval_size=(300, 2000, 64), n_pids=100, cvg_size=(2000, 64), epochs=1)
    else: c.__dict__.update(arch='resnet50', size=(256, 128), bs=60, emb_dim=1024, warmup=10, steps=30, n_ids=120, n_cams=6, render=(128, 64),
                            copies=3, eval_size=(11659, 82161, 1024), n_pids=3060, cvg_size=(50000, 1024), epochs=2)
    return c

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--smoke', action='store_true', help='tiny sizes on the CPU: checks the code path')
    ap.add_argument('--compile', action='store_true', help='with --smoke: also the compiled row (minutes on a CPU)')
    ap.add_argument('--only', default='', help='comma-separated rows: train,loader,eval,cvg,stages (default all)')
    a = ap.parse_args(argv)
    warnings.filterwarnings('ignore', message='.*torch.jit.script.*deprecated')
    dev = torch.device('cpu') if a.smoke or not torch.cuda.is_available() else torch.device('cuda', torch.cuda.current_device())
    cfg = config(a.smoke, a.compile)
    only = set(a.only.split(',')) if a.only else {'train', 'loader', 'eval', 'cvg', 'stages'}
    name = f"cpu ({os.cpu_count()} cores)" if dev.type == 'cpu' else torch.cuda.get_device_name(dev)
    print(f"device: {'cpu (smoke)' if a.smoke else name}; torch {torch.__version__}; {cfg.workers} cores", flush=True)
    print(f"{'row':<28}{'value':>12} {'unit':<10}{'peak GB':>12}  note", flush=True)
    from uga_fast.datasets import load_reid
    from uga_fast.sampler import ReIDDataLoaders
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cfg.tmp = tmp
        data = load_reid('synthetic', root=Path(tmp)/'synthetic', n_ids=cfg.n_ids, n_test_ids=4, n_cams=cfg.n_cams, size=cfg.render, seed=0)
        if 'train' in only: train_rows(ReIDDataLoaders.from_reid(data, bs=cfg.bs, size=cfg.size, device=dev, seed=0), cfg, dev)
        if 'loader' in only: loader_row(data, cfg, dev)
        if 'eval' in only: eval_row(cfg, dev)
        if 'cvg' in only: cvg_row(cfg, dev)
        if 'stages' in only: stages_row(data, cfg, dev)
    print(f"\ndevice check, {'smoke, ' if a.smoke else ''}{time.perf_counter() - t0:.0f} s in all")
    print(f"{'row':<28}{'value':>12} {'unit':<10}{'peak GB':>12}  note")
    for r in ROWS: print(_fmt(r))

if __name__ == '__main__': main()
