#!/usr/bin/env python
"""Does the inter-camera stage pay off? The demo's configuration over several seeds, with controls.

    python benchmarks/bench_stages.py --seeds 5          # about 7 minutes per seed on a 2-core CPU
    python benchmarks/bench_stages.py --seeds 2 --variants intra+,lam0.65
    python benchmarks/bench_stages.py --seeds 5 --jobs 2  # seeds in 2 processes of one thread each

Each seed draws its own synthetic world (the demo's: 60 people, 4 cameras, 64x32) and seeds its own model, sampler and
augmentation. The intra stage is trained once per seed; every row below then starts from that same intra-stage model and
from the same random state, so that two rows of one seed differ by their setting only:

  intra           the intra-camera stage (the demo's epochs and rate)
  intra+          control: the intra stage trained for the inter stage's epochs as well (same rate and schedule as inter)
  lam1            control: the inter stage at λ = 1: swap, self term and retraining, but no cross-camera edge
  lam0.65         the inter stage at the paper's λ
  auto            the inter stage with λ from the data (lam='auto'), re-estimated at every rebuild
  raw             the inter stage at λ = 0.65 with the paper's raw node scores W·φ (scale=None) instead of s·cos
  oracle          the inter stage on the true-identity graph (same weights rule, edges from the ids): the ceiling of a graph
  best            the inter stage at the best fixed λ in hindsight: the λ whose graph on the intra-stage centroids has the best
                  F1 (precision and recall against the true ids), from a sweep of 0.30, 0.35, ..., 0.95

Printed per seed and as mean ± sd: mAP and rank-1 (percent), the graph's precision and recall at the first and last rebuild,
λ at the first and last rebuild, and the mean relative movement of the node weights over the stage, ||ΔW_i|| / ||W_i||.
"""
import argparse, copy, inspect, os, platform, time, warnings
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')   # raised inside fastai's imports (also in the workers)
warnings.filterwarnings('ignore', message='Sparse invariant checks')            # torch's notice on sparse_coo_tensor, not a problem
import numpy as np, pandas as pd, torch, torch.nn.functional as F
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback
from fastai.torch_core import noop
from uga_fast.all import *
from uga_fast.callbacks import CVGUpdate
from uga_fast.demo import demo

DEMO = {k: p.default for k, p in inspect.signature(demo).parameters.items()}   # the demo's configuration, read off its signature

class OracleCVG(CVGUpdate):
    "The graph of the true identities: an edge between every two nodes of one person in different cameras, e(i,j) = cos(i,j)"
    def update(self):
        w, dls = self.learn.model.classifier.weight.detach(), self.learn.dls
        pid, cam = torch.as_tensor(dls.tracklet_pid), dls.tracklet_cam
        i, j = ((pid[:, None] == pid[None]) & (cam[:, None] != cam[None]) & (pid[:, None] >= 0)).nonzero().t()
        x, ar = F.normalize(w, dim=1), torch.arange(len(w))
        W = torch.sparse_coo_tensor(torch.stack([torch.cat([ar, i]), torch.cat([ar, j])]),
                                    torch.cat([torch.ones(len(w)), (x[i] * x[j]).sum(1)]), (len(w),) * 2, check_invariants=False).coalesce()
        self.learn.cvg = W; self.learn.loss_func.set_cvg(W)
        self.learn.cvg_history.append(dict(epoch=self.epoch, iter=self.train_iter, lam=float('nan'), **cvg_stats(W, cam, pid)))

class NodeMovement(Callback):
    "Mean relative movement of the classifier rows over a fit, from where they stand after the swap"
    order = 3
    def before_fit(self): self.w0 = self.learn.model.classifier.weight.detach().clone()
    def after_fit(self):
        w1 = self.learn.model.classifier.weight.detach()
        self.value = ((w1 - self.w0).norm(dim=1) / self.w0.norm(dim=1)).mean().item()

VARIANTS = dict(lam1=dict(lam=1.0), **{'lam0.65': dict(lam=0.65)}, auto=dict(lam='auto'), raw=dict(lam=0.65, scale=None),
                oracle=dict(cbs=[OracleCVG()]))

def learner(seed):
    data = load_reid('synthetic', n_ids=DEMO['n_ids'], n_test_ids=DEMO['n_test_ids'], n_cams=DEMO['n_cams'],
                     size=(DEMO['height'], DEMO['width']), seed=seed)
    dls = ReIDDataLoaders.from_reid(data, bs=DEMO['bs'], size=(DEMO['height'], DEMO['width']), pad=max(1, DEMO['height'] // 16),
                                    seed=seed, device='cpu')
    learn = UGALearner(dls, arch=DEMO['arch'], pretrained=synthetic_weights(DEMO['arch'], size=(DEMO['height'], DEMO['width'])),
                       emb_dim=256, seed=seed, path=f'/tmp/bench_stages/{os.getpid()}')
    learn.remove_cb(ProgressCallback); learn.logger = noop
    return learn

def best_lam(learn)->float:
    "The λ in hindsight: best F1 of the symmetric graph on the current model's tracklet centroids"
    sw = learn.lambda_sweep(lams=np.arange(0.30, 0.951, 0.05).round(2), plot=False)
    sw = sw[sw.symmetric].fillna(0)
    return float(sw.lam[(2 * sw.precision * sw.recall / (sw.precision + sw.recall).clip(1e-9)).idxmax()])

def one_seed(seed, variants, a):
    learn, rows = learner(seed), []
    def row(name, **kw): rows.append(dict(seed=seed, variant=name, **{k: v for k, v in learn.evaluate().items() if k in ('mAP', 'rank1')}, **kw))
    learn.fit_intra(a.intra_epochs, lr=a.intra_lr, checkpoint=False); row('intra')
    intra = copy.deepcopy(learn.model.state_dict())
    for v in variants:                          # each variant from the same intra model and the same random draws: paired comparisons
        learn.model.load_state_dict(intra); learn.model.classifier.scale = None
        kw = dict(lam=best_lam(learn)) if v == 'best' else copy.deepcopy(VARIANTS.get(v, {})); cbs = kw.pop('cbs', [])
        learn.reseed(seed)                      # after the sweep of 'best', which draws from torch's generator too
        if v == 'intra+': learn.fit_intra(a.inter_epochs, lr=a.inter_lr, checkpoint=False); row(v); continue
        move = NodeMovement()
        learn.fit_inter(a.inter_epochs, lr=a.inter_lr, checkpoint=False, cbs=[move, *cbs], **kw)
        h = learn.cvg_stats()
        row(v, P0=h.precision.iloc[0], R0=h.recall.iloc[0], P1=h.precision.iloc[-1], R1=h.recall.iloc[-1], lam0=h.lam.iloc[0],
            lam1=h.lam.iloc[-1], move=move.value)
    return rows

def summary(df:pd.DataFrame)->pd.DataFrame:
    "mean ± sd of each variant's rows"
    def pm(g, c, d): return f"{g[c].mean():.{d}f} ± {g[c].std():.{d}f}" if g[c].notna().any() else ''
    def arrow(g, a, b): return f"{g[a].mean():.2f} -> {g[b].mean():.2f}" if g[a].notna().any() else ''
    return pd.DataFrame({v: {'mAP': pm(g, 'mAP', 1), 'rank-1': pm(g, 'rank1', 1), 'precision': arrow(g, 'P0', 'P1'), 'recall': arrow(g, 'R0', 'R1'),
                             'λ': arrow(g, 'lam0', 'lam1'), 'node move': pm(g, 'move', 3)}
                         for v, g in df.groupby('variant', sort=False)}).T

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seeds', type=int, default=5); ap.add_argument('--first-seed', type=int, default=0)
    ap.add_argument('--variants', default='intra+,lam1,lam0.65,auto,raw,oracle')
    ap.add_argument('--intra-epochs', type=int, default=DEMO['intra_epochs']); ap.add_argument('--inter-epochs', type=int, default=DEMO['inter_epochs'])
    ap.add_argument('--intra-lr', type=float, default=DEMO['intra_lr']); ap.add_argument('--inter-lr', type=float, default=DEMO['inter_lr'])
    ap.add_argument('--jobs', type=int, default=1, help='seeds run in this many processes, one thread each')
    ap.add_argument('--csv', default='', help="write each seed's rows to this file as soon as it is done; seeds already in it are read, not rerun")
    a = ap.parse_args()
    variants, t0, rows = sorted(a.variants.split(','), key=lambda v: v != 'intra+'), time.time(), []   # intra+ first: it goes on with the intra stage's optimiser
    cpu = next((l.split(':')[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor())
    threads = f'{a.jobs} processes of 1 thread' if a.jobs > 1 else f'{torch.get_num_threads()} threads'
    print(f"machine: {os.cpu_count()} cores, {cpu}; torch {torch.__version__} ({threads})")
    print(f"demo configuration: {DEMO['n_ids']} ids, {DEMO['n_cams']} cameras, {DEMO['height']}x{DEMO['width']}, {DEMO['arch']} from "
          f"synthetic weights; intra {a.intra_epochs} epochs at {a.intra_lr:g}, inter {a.inter_epochs} epochs at {a.inter_lr:g}")
    seeds = list(range(a.first_seed, a.first_seed + a.seeds))
    if a.csv and os.path.exists(a.csv):        # an interrupted run goes on where it stopped
        old = pd.read_csv(a.csv); old = old[old.seed.isin(seeds) & old.variant.isin(['intra', *variants])]
        done = [s for s in seeds if set(old.variant[old.seed == s]) == {'intra', *variants}]
        rows += old[old.seed.isin(done)].to_dict('records'); seeds = [s for s in seeds if s not in done]
        if done: print(f"seeds {done} read from {a.csv}")
    def finished(s, r):
        rows.extend(r); print(f"seed {s} done ({time.time() - t0:.0f} s)", flush=True)
        if a.csv: pd.DataFrame(rows).to_csv(a.csv, index=False)
    if a.jobs > 1:
        with ProcessPoolExecutor(a.jobs, mp_context=mp.get_context('spawn'), initializer=torch.set_num_threads, initargs=(1,)) as ex:
            for s, r in zip(seeds, ex.map(one_seed, seeds, [variants] * len(seeds), [a] * len(seeds))): finished(s, r)
    else:
        for s in seeds: finished(s, one_seed(s, variants, a))
    df = pd.DataFrame(rows).sort_values('seed', kind='stable').reset_index(drop=True)
    with pd.option_context('display.width', 200, 'display.max_columns', 20):
        print('\nper seed (mAP and rank-1 in percent; graph precision P, recall R and λ at the first (0) and last (1) rebuild;')
        print('move: mean relative movement of the node weights over the stage):')
        print(df.set_index(['seed', 'variant']).round(dict(mAP=1, rank1=1, P0=2, R0=2, P1=2, R1=2, lam0=2, lam1=2, move=3)).to_string())
        print(f'\nmean ± sd over {a.seeds} seeds:')
        print(summary(df).to_string())
        gain = df.pivot(index='seed', columns='variant', values='mAP')
        print('\nmAP of each inter row minus intra and minus the two controls, per seed:')
        inter = [v for v in ('lam0.65', 'auto', 'best', 'raw', 'oracle') if v in gain]
        print(pd.concat({f'{v} - {b}': gain[v] - gain[b] for v in inter for b in ('intra', 'intra+', 'lam1') if b in gain}, axis=1).round(1).to_string())
    print(f'\n{time.time() - t0:.0f} s')

if __name__ == '__main__': main()
