#!/usr/bin/env python
"""Does the inter-camera stage pay off, and does its graph grow? Two worlds over several seeds, with controls.

    python benchmarks/bench_stages.py --seeds 5                   # the demo's world (about 10 minutes a seed on a 2-core CPU)
    python benchmarks/bench_stages.py --world poor --seeds 5      # a world whose first graph is poor (about 25 minutes a seed)
    python benchmarks/bench_stages.py --seeds 2 --variants intra+,default
    python benchmarks/bench_stages.py --seeds 3 --noise 0.2       # Table 6: 20% of the tracklets merged into another
    python benchmarks/bench_stages.py --seeds 5 --jobs 2          # seeds in 2 processes of one thread each

Worlds (each seed draws its own synthetic data and seeds its own model, sampler and augmentation):

  demo   the demo's configuration: 60 people in 4 cameras, 4-8 frames a tracklet, 64x32, ResNet-10 from the synthetic
         stand-in weights, 24 intra-stage epochs at 2e-3, 12 inter-stage epochs at 5e-4. Its first graph is good
         (precision about 0.85, recall about 0.75).
  poor   where the first graph is poor, as on real data: 300 people in 6 cameras (about 180 tracklets a camera, so
         many look-alikes), 2-4 frames a tracklet, and a short intra stage (3 epochs at 2e-3, batch 30: 5 images a
         camera), so that the inter stage starts from features still far from converged; 12 inter epochs. The first
         graph's precision is 0.1-0.4 and its recall 0.05-0.3, depending on how far the seed's intra stage got. The
         renderer is the demo's: no camera shift or noise is turned up.

The intra stage is trained once per seed; every row then starts from that same intra-stage model and from the same random
state, so that two rows of one seed differ by their setting only:

  intra      the intra-camera stage
  intra+     control: the intra stage trained for the inter stage's epochs as well (same rate and schedule as inter)
  lam1       control: the inter stage at λ = 1: swap, self term and retraining, but no cross-camera edge
  fixed      control: the paper's first graph (the swapped centroids), never rebuilt
  paper      the paper's updates: the graph rebuilt every epoch from the classifier's rows (cvg_from='weights', centre_cams=False)
  default    uga_fast's default: rebuilt every epoch from the current model's tracklet centroids, camera-centred
  oracle     the inter stage on the true-identity graph (same weights rule, edges from the ids): the ceiling of a graph
  (options)  centroids: default without the camera centring; weights-centred: the paper's rows, camera-centred;
             auto: default with lam='auto'; noswap: default with swap=False; raw: default with raw scores (scale=None);
             agree: default with the per-image check of the cross-camera terms (fit_inter(agree=True));
             trim: default with the robust swap, fit_inter(trim=3): centroids of each tracklet's inlier frames, and the
             stage trained on those frames only;
             best: default at the λ with the best F1 on the intra-stage graph (in hindsight);
             a+b: two variants' settings together, e.g. lam1+raw

Printed per seed and as mean ± sd: mAP and rank-1 (percent); the graph's precision P and recall R at the first (0) and last (1)
rebuild; the edges gained and lost over the stage (summed over rebuilds); R@P0, the recall that the final node features reach at
the precision of the first graph (the best λ of a sweep whose graph is at least that precise); and drift, the rows' distance
1 - cos from the current centroids at the last rebuild.
"""
import argparse, copy, inspect, os, platform, time, warnings
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')   # raised inside fastai's imports (also in the workers)
warnings.filterwarnings('ignore', message='Sparse invariant checks')            # torch's notice on sparse_coo_tensor, not a problem
import numpy as np, pandas as pd, torch, torch.nn.functional as F
from fastai.callback.progress import ProgressCallback
from fastai.torch_core import noop
from uga_fast.all import *
from uga_fast.callbacks import CVGUpdate, current_centroids
from uga_fast.demo import demo

DEMO = {k: p.default for k, p in inspect.signature(demo).parameters.items()}   # the demo's configuration, read off its signature
WORLDS = dict(demo=dict(n_ids=DEMO['n_ids'], n_cams=DEMO['n_cams'], frames=(4, 8), intra_epochs=DEMO['intra_epochs']),
              poor=dict(n_ids=300, n_cams=6, frames=(2, 4), intra_epochs=3))

class OracleCVG(CVGUpdate):
    "The graph of the true identities: an edge between every two nodes of one person in different cameras, e(i,j) = cos(i,j)"
    def update(self):
        x, w, c = self.nodes()
        dls = self.learn.dls
        pid, cam = torch.as_tensor(dls.tracklet_pid), dls.node_cam
        i, j = ((pid[:, None] == pid[None]) & (cam[:, None] != cam[None]) & (pid[:, None] >= 0)).nonzero().t()
        x, ar = F.normalize(x, dim=1), torch.arange(len(x))
        W = torch.sparse_coo_tensor(torch.stack([torch.cat([ar, i]), torch.cat([ar, j])]),
                                    torch.cat([torch.ones(len(x)), (x[i] * x[j]).sum(1)]), (len(x),) * 2, check_invariants=False).coalesce()
        prev, self.first = (None if self.first else self.learn.cvg), False
        self.learn.cvg = W; self.learn.loss_func.set_cvg(W)
        self._log(W, float('nan'), x, w, c, prev)

PAPER = dict(cvg_from='weights', centre_cams=False)
VARIANTS = {'lam1': dict(lam=1.0), 'fixed': dict(**PAPER, update_every=10**6), 'paper': PAPER, 'default': {},
            'oracle': dict(cbs=[OracleCVG()]), 'centroids': dict(centre_cams=False), 'weights-centred': dict(cvg_from='weights'),
            'auto': dict(lam='auto'), 'noswap': dict(swap=False), 'raw': dict(scale=None), 'agree': dict(agree=True), 'trim': dict(trim=3.)}

def variant_kw(v:str)->dict:
    "fit_inter's arguments of a variant; 'lam1+raw' joins two variants' settings"
    return {} if v == 'intra+' else {k: x for p in v.split('+') for k, x in copy.deepcopy(VARIANTS[p]).items()}

def learner(seed, world, noise=0.):
    w = WORLDS[world]
    data = load_reid('synthetic', n_ids=w['n_ids'], n_test_ids=DEMO['n_test_ids'], n_cams=w['n_cams'], frames=w['frames'],
                     size=(DEMO['height'], DEMO['width']), seed=seed)
    if noise: data = simulate_tracklet_noise(data, noise, 'mislabel', seed=seed)   # Table 6: whole tracklets merged into another of their camera
    dls = ReIDDataLoaders.from_reid(data, bs=DEMO['bs'] // w['n_cams'] * w['n_cams'], size=(DEMO['height'], DEMO['width']), pad=max(1, DEMO['height'] // 16),
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

def recall_at(learn, kw:dict, p0:float)->float:
    "Recall of the graph on the stage's final node features at the best λ whose precision is at least `p0`"
    from_w, centre = kw.get('cvg_from', learn.cvg_from) == 'weights', kw.get('centre_cams', learn.centre_cams)
    x = learn.model.classifier.weight.detach() if from_w else current_centroids(learn)
    if centre: x = centre_cameras(x, learn.dls.node_cam)
    sw = lambda_sweep(x, learn.dls.node_cam, learn.dls.tracklet_pid, lams=np.arange(-0.2, 0.991, 0.01).round(2))
    ok = sw[sw.symmetric & (sw.precision >= p0 - 1e-9)]
    return float(ok.recall.max()) if len(ok) else 0.

def inter_row(learn, v, h, kw)->dict:
    "The graph's numbers of one inter-stage run, from its rebuild log"
    r = dict(P0=h.precision.iloc[0], R0=h.recall.iloc[0], P1=h.precision.iloc[-1], R1=h.recall.iloc[-1], E0=h.edges.iloc[0],
             E1=h.edges.iloc[-1], gained=h.gained.sum() if 'gained' in h else 0, lost=h.lost.sum() if 'lost' in h else 0,
             lam0=h.lam.iloc[0], lam1=h.lam.iloc[-1], drift=h.drift.iloc[-1] if 'drift' in h else np.nan)
    if v not in ('lam1', 'oracle') and r['P0'] == r['P0']: r['R@P0'] = recall_at(learn, kw, r['P0'])
    return r

def one_seed(seed, variants, a):
    learn, rows = learner(seed, a.world, a.noise), []
    def row(name, **kw): rows.append(dict(world=a.world, noise=a.noise, seed=seed, variant=name, **{k: v for k, v in learn.evaluate().items() if k in ('mAP', 'rank1')}, **kw))
    learn.fit_intra(a.intra_epochs, lr=a.intra_lr, checkpoint=False); row('intra')
    intra = copy.deepcopy(learn.model.state_dict())
    for v in variants:                          # each variant from the same intra model and the same random draws: paired comparisons
        learn.model.load_state_dict(intra)
        kw = dict(lam=best_lam(learn)) if v == 'best' else variant_kw(v); cbs = kw.pop('cbs', [])
        learn.reseed(seed)                      # after the sweep of 'best', which draws from torch's generator too
        if v == 'intra+': learn.fit_intra(a.inter_epochs, lr=a.inter_lr, checkpoint=False); row(v); continue
        learn.fit_inter(a.inter_epochs, lr=a.inter_lr, checkpoint=False, cbs=cbs, **kw)
        h = learn.cvg_rebuilds()
        if a.log: print(f"seed {seed}, {v}: the graph at every rebuild\n{h.round(3).to_string()}", flush=True)
        row(v, **inter_row(learn, v, h, kw))
    return rows

def summary(df:pd.DataFrame)->pd.DataFrame:
    "mean ± sd of each variant's rows"
    def pm(g, c, d): return f"{g[c].mean():.{d}f} ± {g[c].std():.{d}f}" if c in g and g[c].notna().any() else ''
    def arrow(g, a, b, d=2): return f"{g[a].mean():.{d}f} -> {g[b].mean():.{d}f}" if a in g and g[a].notna().any() else ''
    return pd.DataFrame({v: {'mAP': pm(g, 'mAP', 1), 'rank-1': pm(g, 'rank1', 1), 'precision': arrow(g, 'P0', 'P1'), 'recall': arrow(g, 'R0', 'R1'),
                             'R1/R0': f"{(g.R1 / g.R0).mean():.2f}" if 'R0' in g and (g.R0 > 0).any() else '',
                             'edges': arrow(g, 'E0', 'E1', 0), '+gained/-lost': f"+{g.gained.mean():.0f}/-{g.lost.mean():.0f}" if 'gained' in g and g.gained.notna().any() else '',
                             'R@P0': pm(g, 'R@P0', 2), 'drift': pm(g, 'drift', 3)}
                         for v, g in df.groupby('variant', sort=False)}).T

def report(df:pd.DataFrame, a):
    with pd.option_context('display.width', 250, 'display.max_columns', 30):
        print('\nper seed (mAP and rank-1 in percent; the graph at its first (0) and last (1) rebuild: precision P, recall R, edges E, λ;')
        print('gained/lost: edges over the stage; R@P0: recall of the final node features at the first graph\'s precision; drift: 1 - cos(row, centroid)):')
        print(df.drop(columns=['world', 'noise']).set_index(['seed', 'variant']).round(dict(mAP=1, rank1=1, P0=2, R0=2, P1=2, R1=2, lam0=2, lam1=2, drift=3, **{'R@P0': 2})).to_string())
        print(f'\nmean ± sd over {df.seed.nunique()} seeds:')
        print(summary(df).to_string())
        gain = df.pivot(index='seed', columns='variant', values='mAP')
        print('\nmAP differences, per seed:')
        pairs = [(v, b) for v in gain if v not in ('intra', 'intra+', 'lam1', 'fixed') for b in ('intra', 'fixed') if b in gain]
        pairs += [(v, b) for v, b in (('default', 'paper'), ('default', 'lam1'), ('noswap', 'default'), ('default', 'centroids'), ('agree', 'default'), ('agree', 'lam1'),
                                    ('trim', 'default'), ('lam1+trim', 'lam1'), ('agree+trim', 'agree'), ('agree+trim', 'trim')) if v in gain and b in gain]
        d = pd.concat({f'{v} - {b}': gain[v] - gain[b] for v, b in pairs}, axis=1)
        print(pd.concat([d, d.agg(['mean', 'std'])]).round(1).to_string())

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--world', default='demo', choices=list(WORLDS))
    ap.add_argument('--seeds', type=int, default=5); ap.add_argument('--first-seed', type=int, default=0)
    ap.add_argument('--variants', default='lam1,fixed,paper,default,oracle')
    ap.add_argument('--intra-epochs', type=int, default=None, help="default: the world's")
    ap.add_argument('--inter-epochs', type=int, default=DEMO['inter_epochs'])
    ap.add_argument('--intra-lr', type=float, default=DEMO['intra_lr']); ap.add_argument('--inter-lr', type=float, default=DEMO['inter_lr'])
    ap.add_argument('--noise', type=float, default=0., help="share of the tracklets mislabelled, each merged whole into another of its camera (the paper's Table 6)")
    ap.add_argument('--log', action='store_true', help="print each run's graph at every rebuild")
    ap.add_argument('--jobs', type=int, default=1, help='seeds run in this many processes, one thread each')
    ap.add_argument('--csv', default='', help="write each seed's rows to this file as soon as it is done; rows already in it are read, not rerun (a variant that a seed lacks runs alone, after that seed's intra stage again)")
    a = ap.parse_args()
    a.intra_epochs = a.intra_epochs or WORLDS[a.world]['intra_epochs']
    variants, t0 = sorted(a.variants.split(','), key=lambda v: v != 'intra+'), time.time()   # intra+ first: it goes on with the intra stage's optimiser
    unknown = [v for v in variants if v not in ('intra+', 'best') and not all(p in VARIANTS for p in v.split('+'))]
    if unknown: ap.error(f"unknown variants {unknown}: choose from intra+, best, {', '.join(VARIANTS)}")
    cpu = next((l.split(':')[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor())
    threads = f'{a.jobs} processes of 1 thread' if a.jobs > 1 else f'{torch.get_num_threads()} threads'
    print(f"machine: {os.cpu_count()} cores, {cpu}; torch {torch.__version__} ({threads})")
    w = WORLDS[a.world]
    print(f"world '{a.world}': {w['n_ids']} ids, {w['n_cams']} cameras, {w['frames'][0]}-{w['frames'][1]} frames a tracklet, "
          f"{DEMO['height']}x{DEMO['width']}, {DEMO['arch']} from synthetic weights; intra {a.intra_epochs} epochs at {a.intra_lr:g}, "
          f"inter {a.inter_epochs} epochs at {a.inter_lr:g}" + (f"; {a.noise:.0%} of the tracklets mislabelled" if a.noise else ''))
    seeds = list(range(a.first_seed, a.first_seed + a.seeds))
    todo, kept = {s: variants for s in seeds}, []
    if a.csv and os.path.exists(a.csv):        # an interrupted run goes on where it stopped; a new variant runs alone
        old = pd.read_csv(a.csv)
        runs = set(zip(old.get('world', pd.Series(['?'])), old.get('noise', pd.Series([float('nan')]))))
        if runs != {(a.world, a.noise)}: ap.error(f"{a.csv} holds runs of (world, noise) {sorted(runs)}, not ('{a.world}', {a.noise}): name another --csv")
        kept = old.to_dict('records')
        for s in seeds:
            have = {r['variant'] for r in kept if r['seed'] == s}
            todo[s] = [v for v in variants if v not in have] if 'intra' in have else variants
        read = [s for s in seeds if todo[s] != variants]
        if read: print(f"seeds {read}: rows read from {a.csv}; to run: " + '; '.join(f"{s}: {','.join(todo[s]) or 'none'}" for s in read))
    seeds = [s for s in seeds if todo[s]]
    def finished(s, r):
        have = {x['variant'] for x in kept if x['seed'] == s}
        kept.extend(x for x in r if x['variant'] not in have); print(f"seed {s} done ({time.time() - t0:.0f} s)", flush=True)
        if a.csv: pd.DataFrame(kept).to_csv(a.csv, index=False)
    if a.jobs > 1:
        with ProcessPoolExecutor(a.jobs, mp_context=mp.get_context('spawn'), initializer=torch.set_num_threads, initargs=(1,)) as ex:
            for s, r in zip(seeds, ex.map(one_seed, seeds, [todo[s] for s in seeds], [a] * len(seeds))): finished(s, r)
    else:
        for s in seeds: finished(s, one_seed(s, todo[s], a))
    df = pd.DataFrame(kept)
    df = df[df.seed.isin(range(a.first_seed, a.first_seed + a.seeds)) & df.variant.isin(['intra', *variants])]
    report(df.sort_values('seed', kind='stable').reset_index(drop=True), a)
    print(f'\n{time.time() - t0:.0f} s')

if __name__ == '__main__': main()
