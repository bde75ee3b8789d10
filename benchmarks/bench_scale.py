#!/usr/bin/env python
"""Every stage of uga_fast at Market-1501, MSMT17 and MARS size and at ten times MSMT17: time, peak memory, growth (issue 26).

    OMP_NUM_THREADS=1 python benchmarks/bench_scale.py                        # all stages, all sizes (about 30 minutes on 2 cores)
    OMP_NUM_THREADS=1 python benchmarks/bench_scale.py --sizes market         # one size (about 2 minutes)
    OMP_NUM_THREADS=1 python benchmarks/bench_scale.py --stages cvg,cvg-auto --sizes msmt17x10,city --max-s 1200
    python benchmarks/bench_scale.py --max-gb 8 --keep --work /data/bench_scale   # skip rows predicted above 8 GB; keep the files

Sizes (the public counts; metadata and features are synthetic where images are not the point):

  market     Market-1501: 12,936 training images of 751 ids in 3,262 tracklets, 6 cameras; 3,368 query × 15,913 gallery
  msmt17     MSMT17: 32,621 training images of 1,041 ids in ~4,000 tracklets, 15 cameras; 11,659 × 82,161
  mars       MARS: 509,914 training frames in 8,298 tracklets of 625 ids, 6 cameras; 1,980 query × 9,330 gallery
             tracklets over 681,089 test frames
  msmt17x10  ten times MSMT17: 326,210 training images of 10,410 ids in ~45,000 tracklets, 150 cameras; 116,590 × 821,610
  city       the graph only: 200,000 nodes (tracklets) over 100 cameras, a city's deployment

Rows (stage: what the timed part does; every (stage, size) runs in its own fresh process, which first imports uga_fast.all):

  baseline       python + `import uga_fast.all`, nothing else: the peak every other row starts from (time: the whole process)
  readers        `read_market1501` / `read_msmt17` / `read_mars` over the dataset's exact public folder layout, written
                 beforehand with 1-byte sparse files (no disk blocks; the readers stat every file and refuse empty ones) and
                 removed after. Size: files in the layout
  sampler        `ReIDDataLoaders.from_reid` on synthetic metadata (paths that are never opened), then one epoch's
                 indices (`CameraBalancedDL.get_idxs`, cut into batches of bs = 60, or one image per camera when there
                 are more than 60). Size: training images
  centroids      the swap's centroid pass, `tracklet_centroids`, at 1,024-d: a stand-in model whose `.features` returns
                 seeded random features for a DataLoader of index batches (120 a batch), so no image is decoded.
                 Size: training frames
  cvg, cvg-auto  `build_cvg` over tracklet centroids (1,024-d, planted identities; nodes = tracklets) at λ = 0.65 and
                 at lam='auto'. Size: nodes. Its work is quadratic: every node against every other camera's nodes
  eval           `evaluate_features`, image protocol, 256-d. Quadratic: nq × ng distances. At msmt17x10 a fixed, evenly
                 spaced sample of --sample-queries queries is evaluated against the whole gallery; the note gives the time
                 per 1k queries and the full run's extrapolated time (marked ~, and used for the growth factor)
  eval-video     `evaluate_video` (MARS protocol: frames pooled per tracklet, then ranked), 256-d frame features
  rerank         `uga_fast.rerank.re_ranking` (the full nq × ng matrix), then `evaluate_rank` on it, 256-d
  rerank-blocks  the streamed path, `evaluate_rank(re_ranking_blocks(qf, gf), ...)`, where the library has it
  embed, search  the command line over a gallery folder of small JPEGs (32×16, in sub-folders of ~100), with resnet10t
                 weights saved the way `uga-fast train` saves them: `uga-fast embed --images gallery` and `uga-fast search
                 --query (100 images) --gallery gallery`. Time: the whole CLI process (its ~import time included)

Columns: n (the stage's size measure) and ×n (its ratio to the stage's previous size); time and ×time; peak RSS (the
process's, from `os.wait4`'s ru_maxrss), +GB (peak minus the baseline's peak: what the stage itself adds) and ×+GB; start
(the RSS when the timed part begins: the inputs it holds). ×time ≈ ×n is linear growth, ≈ ×n² quadratic.

A row is skipped, with its reason printed, when its predicted peak exceeds --max-gb or its predicted time exceeds --max-s.
Predictions scale the stage's previous size by how its memory and its time grow (its time: n or n², or queries × gallery);
at the first size, or where the previous size added under 0.1 GB, the memory comes from the size of the stage's inputs. A
run that passes --max-gb anyway is killed by the watchdog (RSS polled 5 times a second) and marked so.
"""
import argparse, json, os, platform, re, shutil, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve()
GB = 2**30

SIZES = dict(
    market=dict(label='Market-1501', train=12_936, ids=751, cams=6, tracklets=3_262, q=3_368, g=15_913, test_ids=750, junk=3_819, distractors=2_793),
    msmt17=dict(label='MSMT17', train=32_621, ids=1_041, cams=15, tracklets=4_000, q=11_659, g=82_161, test_ids=3_060, val_ids=93),
    mars=dict(label='MARS', train=509_914, ids=625, cams=6, tracklets=8_298, q=1_980, g=9_330, test_frames=681_089, test_ids=636),
    msmt17x10=dict(label='10× MSMT17', train=326_210, ids=10_410, cams=150, tracklets=45_000, q=116_590, g=821_610, test_ids=30_600, val_ids=930),
    city=dict(label='city', tracklets=200_000, cams=100, ids=45_000),
)
D_FEAT, D_EVAL, CVG_BS, CENT_BS, JPEG_HW, N_QUERIES = 1024, 256, 60, 120, (32, 16), 100

# ---------------------------------------------------------------------------------------------------------------- stages
def n_files(S):
    "Files of the dataset's layout (MARS: training + test frames; Market: + its junk)"
    return S['train'] + S.get('test_frames', S['q'] + S['g']) + S.get('junk', 0)

def eval_nq(S, a): return min(S['q'], a.sample_queries) if S.get('sample') else S['q']

# per stage: the sizes it runs at, its size measure n (and unit), what its time and its memory grow with, and its inputs'
# bytes (the first size's memory prediction). `skip` gives a reason a size is never run.
STAGES = dict(
    readers=dict(sizes=('market', 'msmt17', 'mars', 'msmt17x10'), unit='files', n=n_files,
                 work=lambda S, a: n_files(S), mem=lambda S, a: n_files(S), first=lambda S, a: n_files(S) * 1500),
    sampler=dict(sizes=('market', 'msmt17', 'mars', 'msmt17x10'), unit='images', n=lambda S: S['train'],
                 work=lambda S, a: S['train'], mem=lambda S, a: S['train'], first=lambda S, a: S['train'] * 2000),
    centroids=dict(sizes=('market', 'msmt17', 'mars', 'msmt17x10'), unit='frames', n=lambda S: S['train'],
                   work=lambda S, a: S['train'], mem=lambda S, a: S['train'], first=lambda S, a: S['train'] * D_FEAT * 4 * 2),
    cvg=dict(sizes=('market', 'msmt17', 'mars', 'msmt17x10', 'city'), unit='nodes', n=lambda S: S['tracklets'],
             work=lambda S, a: S['tracklets']**2, mem=lambda S, a: S['tracklets'], first=lambda S, a: S['tracklets'] * D_FEAT * 4 * 3),
    eval=dict(sizes=('market', 'msmt17', 'msmt17x10'), unit='q+g', n=lambda S: S['q'] + S['g'],
              work=lambda S, a: eval_nq(S, a) * S['g'], mem=lambda S, a: S['q'] + S['g'], first=lambda S, a: (S['q'] + S['g']) * D_EVAL * 4 * 2),
    **{'eval-video': dict(sizes=('mars',), unit='frames', n=lambda S: S['test_frames'],
                          work=lambda S, a: S['test_frames'], mem=lambda S, a: S['test_frames'], first=lambda S, a: S['test_frames'] * D_EVAL * 4 * 2),
       'rerank': dict(sizes=('market', 'msmt17', 'msmt17x10'), unit='q+g', n=lambda S: S['q'] + S['g'],
                      work=lambda S, a: (S['q'] + S['g'])**2, mem=lambda S, a: S['q'] * S['g'], first=lambda S, a: S['q'] * S['g'] * 4 * 3.5,
                      skip=lambda S, a: S['q'] * S['g'] * 4 > 64 * GB and
                          f"the full matrix alone is {S['q']:,} × {S['g']:,} × 4 B = {S['q'] * S['g'] * 4 / GB:,.0f} GB: quadratic output, see rerank-blocks"),
       'rerank-blocks': dict(sizes=('market', 'msmt17', 'msmt17x10'), unit='q+g', n=lambda S: S['q'] + S['g'],
                             work=lambda S, a: (S['q'] + S['g'])**2, mem=lambda S, a: S['q'] + S['g'], first=lambda S, a: (S['q'] + S['g']) * D_EVAL * 4 * 6),
       'embed': dict(sizes=('market', 'msmt17', 'msmt17x10'), unit='images', n=lambda S: S['g'],
                     work=lambda S, a: S['g'], mem=lambda S, a: S['g'], first=lambda S, a: S['g'] * D_FEAT * 4 * 3),
       'search': dict(sizes=('market', 'msmt17', 'msmt17x10'), unit='images', n=lambda S: S['g'],
                      work=lambda S, a: S['g'], mem=lambda S, a: S['g'], first=lambda S, a: S['g'] * D_FEAT * 4 * 3)},
)
ORDER = ['readers', 'sampler', 'centroids', 'cvg', 'cvg-auto', 'eval', 'eval-video', 'rerank', 'rerank-blocks', 'embed', 'search']
STAGES['cvg-auto'] = STAGES['cvg']

# ------------------------------------------------------------------------------------------------ synthetic metadata
def tracks(n_tr, n_ids, T, n_items, seed=0):
    "pid, cam, items and appearance index k of `n_tr` tracklets of `n_ids` people in `T` cameras (a person's k-th tracklet is in camera pid+k mod T), `n_items` items in all"
    import numpy as np
    t = np.arange(n_tr); pid, k = t % n_ids, t // n_ids
    cnt = 1 + np.random.default_rng(seed).multinomial(n_items - n_tr, np.full(n_tr, 1 / n_tr))
    return pid, (pid + k) % T, cnt, k

def items(n, n_ids, T, shift=0):
    "pid and cam of `n` single images (query or gallery) of `n_ids` people: each person's i-th image is in camera pid+i+shift mod T"
    import numpy as np
    i = np.arange(n); pid = i % n_ids
    return pid, (pid + i // n_ids + shift) % T

def planted(pid, n_ids, d, noise, seed=0, chunk=65536):
    "float32 features: a random centre per person plus `noise` × N(0, 1), filled a chunk at a time (no full-size temporary)"
    import numpy as np
    rng = np.random.default_rng(seed)
    P = rng.standard_normal((n_ids, d), dtype=np.float32)
    x = np.empty((len(pid), d), np.float32)
    for s in range(0, len(pid), chunk):
        v = x[s:s + chunk]; rng.standard_normal(out=v, dtype=np.float32); v *= noise; v += P[pid[s:s + chunk]]
    return x

# ------------------------------------------------------------------------------------------------------ the layouts
def touch(p):
    "A 1-byte sparse file: its own inode, no data block (the readers refuse 0-byte images)"
    fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644); os.ftruncate(fd, 1); os.close(fd)

def write_files(root:Path, rels):
    "Touch every relative path of `rels` under `root`, creating its folders once"
    made = set()
    for r in rels:
        d = os.path.dirname(r)
        if d not in made: os.makedirs(root/d, exist_ok=True); made.add(d)
        touch(f'{root}/{r}')

def write_market(root, S):
    d = root/'Market-1501-v15.09.15'
    pid, cam, cnt, _ = tracks(S['tracklets'], S['ids'], S['cams'], S['train'])
    import numpy as np
    P, C = np.repeat(2 * pid + 2, cnt), np.repeat(cam, cnt)
    write_files(d, (f'bounding_box_train/{p:04d}_c{c + 1}s1_{f:06d}_01.jpg' for f, (p, c) in enumerate(zip(P, C))))
    qp, qc = items(S['q'], S['test_ids'], S['cams']); gp, gc = items(S['g'], S['test_ids'], S['cams'], 1)
    gp = 2 * gp + 1; gp[:S['distractors']] = 0                       # distractors: pid 0000, kept in the gallery
    write_files(d, (f'query/{2 * p + 1:04d}_c{c + 1}s1_{f:06d}_00.jpg' for f, (p, c) in enumerate(zip(qp, qc))))
    write_files(d, (f'bounding_box_test/{p:04d}_c{c + 1}s1_{f:06d}_01.jpg' for f, (p, c) in enumerate(zip(gp, gc))))
    write_files(d, (f'bounding_box_test/-1_c{f % S["cams"] + 1}s1_{f:06d}_00.jpg' for f in range(S['junk'])))   # junk, dropped
    return d

def write_msmt17(root, S):
    "MSMT17_V1: train/ and test/ in per-person folders, list_train/val/query/gallery.txt"
    import numpy as np
    d = root/'MSMT17_V1'
    pid, cam, cnt, _ = tracks(S['tracklets'], S['ids'], S['cams'], S['train'])
    P, C = np.repeat(pid, cnt), np.repeat(cam, cnt)
    rel = [f'{p:04d}/{p:04d}_{f:03d}_{c + 1:02d}_0303morning_{f:04d}_0.jpg' for f, (p, c) in enumerate(zip(P, C))]
    write_files(d/'train', rel)
    val = P >= S['ids'] - S['val_ids']
    for name, m in (('train', ~val), ('val', val)):
        (d/f'list_{name}.txt').write_text(''.join(f'{r} {p}\n' for r, p, v in zip(rel, P, m) if v))
    for name, n, shift in (('query', S['q'], 0), ('gallery', S['g'], 1)):
        p, c = items(n, S['test_ids'], S['cams'], shift); base = 0 if name == 'query' else S['q']
        rel = [f'{a:04d}/{a:04d}_{base + f:03d}_{b + 1:02d}_0303morning_{base + f:04d}_0.jpg' for f, (a, b) in enumerate(zip(p, c))]
        write_files(d/'test', rel)
        (d/f'list_{name}.txt').write_text(''.join(f'{r} {a}\n' for r, a in zip(rel, p)))
    return d

def write_mars(root, S):
    "MARS: bbox_train/ bbox_test/ (per-person folders of frames) and info/ (names, track tables, query_IDX)"
    import numpy as np
    from scipy.io import savemat
    d = root/'MARS'; (d/'info').mkdir(parents=True, exist_ok=True)
    def split(home, pid, cam, cnt, k, key):
        names, start = [], np.cumsum(cnt) - cnt + 1
        for p, c, n, t in zip(pid, cam, cnt, k): names += [f'{p:04d}C{c + 1}T{t + 1:04d}F{f:03d}.jpg' for f in range(1, n + 1)]
        write_files(d/home, (f'{x[:4]}/{x}' for x in names))
        (d/'info'/f'{key}_name.txt').write_text('\n'.join(names) + '\n')
        savemat(d/'info'/f'tracks_{key}_info.mat', {f'track_{key}_info': np.stack([start, start + cnt - 1, pid, cam + 1], 1).astype(float)})
    pid, cam, cnt, k = tracks(S['tracklets'], S['ids'], S['cams'], S['train'])
    split('bbox_train', pid + 1, cam, cnt, k, 'train')
    n_te = S['q'] + S['g']
    pid, cam, cnt, k = tracks(n_te, S['test_ids'], S['cams'], S['test_frames'], seed=1)
    split('bbox_test', pid + 1001, cam, cnt, k, 'test')
    q = np.flatnonzero(k < S['cams'])[:S['q']]                          # one query per (person, camera), as MARS
    savemat(d/'info'/'query_IDX.mat', dict(query_IDX=(q + 1.)[None]))
    return d

WRITERS = dict(market=write_market, msmt17=write_msmt17, mars=write_mars, msmt17x10=write_msmt17)

def write_gallery(root, S):
    "A folder of `S['g']` small JPEGs (32×16) in sub-folders of ~100, 100 query JPEGs, and resnet10t weights as `uga-fast train` saves them"
    import numpy as np, torch
    from PIL import Image
    rng = np.random.default_rng(0)
    for name, n in (('gallery', S['g']), ('query', N_QUERIES)):
        for i in range(n):
            f = root/name/f'{i // 100:05d}'/f'{i:07d}.jpg'
            if i % 100 == 0: f.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (*JPEG_HW, 3), dtype=np.uint8)).save(f, quality=90)
    learn = feature_learner(root/'query'/'00000'/'0000000.jpg')
    torch.save({'model': learn.model.state_dict()}, root/'weights.pth')

def feature_learner(image):
    "A resnet10t `UGALearner` around a one-image training set: the way `uga-fast embed|search` builds theirs"
    import pandas as pd
    from uga_fast.all import ReIDData, ReIDDataLoaders, UGALearner
    from uga_fast.data import EVAL_COLS
    tr = pd.DataFrame(dict(path=[str(image)], cam=[0], label=[0], tracklet=[0], pid=[-1]))
    ev = pd.DataFrame({c: pd.Series(dtype=object if c == 'path' else 'int64') for c in EVAL_COLS})
    dls = ReIDDataLoaders.from_reid(ReIDData(tr, ev, ev.copy(), name='features'), bs=2, size=JPEG_HW, device='cpu', num_workers=0)
    return UGALearner(dls, arch='resnet10t', pretrained=False)

# --------------------------------------------------------------------------------------------- the timed parts (child)
def rss_now():
    return next(int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmRSS'))

def run_readers(S, size, a):
    from uga_fast.all import load_reid
    name = {'market': 'market1501', 'mars': 'mars'}.get(size, 'msmt17')
    root = Path(a.work)/f'layout_{size}'
    yield
    ds = load_reid(name, root)
    yield (f"{len(ds.train):,} train / {ds.query.tracklet.nunique() if ds.video else len(ds.query):,} query / "
           f"{ds.gallery.tracklet.nunique() if ds.video else len(ds.gallery):,} gallery {'tracklets' if ds.video else 'images'}, "
           f"{sum(ds.n_tracklets):,} training tracklets")

def run_sampler(S, size, a):
    import numpy as np, pandas as pd
    from uga_fast.all import ReIDData, ReIDDataLoaders
    from uga_fast.data import EVAL_COLS
    pid, cam, cnt, k = tracks(S['tracklets'], S['ids'], S['cams'], S['train'])
    order = np.lexsort((np.arange(len(cam)), cam)); label = np.empty(len(cam), int)
    label[order] = np.arange(len(cam)) - np.searchsorted(cam[order], cam[order])      # rank of a tracklet within its camera
    trk = np.repeat(np.arange(len(cnt)), cnt)
    paths = [f'/data/{size}/bbox_train/{p:04d}/{p:04d}C{c + 1}T{t + 1:04d}F{f:03d}.jpg' for f, (p, c, t) in
             enumerate(zip(pid[trk], cam[trk], k[trk]))]
    from PIL import Image                                           # fastai's setup decodes the first item: that one is real
    paths[0] = str(Path(a.work)/f'sampler_{size}_first.jpg'); Image.new('RGB', (128, 256)).save(paths[0])
    train = pd.DataFrame(dict(path=paths, cam=cam[trk], label=label[trk], tracklet=trk, pid=pid[trk]))
    ev = pd.DataFrame({c: pd.Series(dtype=object if c == 'path' else 'int64') for c in EVAL_COLS})
    data, bs = ReIDData(train, ev, ev.copy(), name=size), CVG_BS if S['cams'] <= CVG_BS else S['cams']
    del paths, train
    yield
    t0 = time.perf_counter()
    dls = ReIDDataLoaders.from_reid(data, bs=bs, size=(256, 128), device='cpu', num_workers=0, seed=0)
    t1 = time.perf_counter()
    idx = dls.train.get_idxs()
    batches = [idx[i:i + dls.train.bs] for i in range(0, len(idx), dls.train.bs)]
    t2 = time.perf_counter()
    yield f"from_reid {t1 - t0:.2f} s + epoch indices {t2 - t1:.2f} s ({len(batches):,} batches of {dls.train.bs})"

def run_centroids(S, size, a):
    import numpy as np, torch
    from torch.utils.data import DataLoader, TensorDataset
    from uga_fast.all import tracklet_centroids
    class StandIn(torch.nn.Module):
        "`.features(i)`: seeded random 1,024-d features for a batch of item indices (no image decoded)"
        def features(self, i): return torch.randn(len(i), D_FEAT, generator=torch.Generator().manual_seed(int(i[0])))
    _, _, cnt, _ = tracks(S['tracklets'], S['ids'], S['cams'], S['train'])
    trk = np.repeat(np.arange(len(cnt)), cnt)
    dl = DataLoader(TensorDataset(torch.arange(len(trk))), batch_size=CENT_BS)
    yield
    c = tracklet_centroids(StandIn(), dl, trk, n=len(cnt))
    yield f"{tuple(c.shape)} centroids from {len(trk):,} frames, {D_FEAT}-d"

def run_cvg(S, size, a, lam):
    import warnings, torch
    from uga_fast.graph import cvg_with_lambda
    pid, cam, _, _ = tracks(S['tracklets'], S['ids'], S['cams'], S['tracklets'])
    x = torch.from_numpy(planted(pid, S['ids'], D_FEAT, 0.6))     # same-person cos ≈ 0.75
    yield
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        W, l = cvg_with_lambda(x, torch.from_numpy(cam), lam=lam)
    yield f"{(W._nnz() - len(x)) // 2:,} edges, λ = {l:.3f}, {S['cams']} cameras"

def eval_data(S, a, seed=0):
    q_pid, q_cam = items(S['q'], S['test_ids'], S['cams']); g_pid, g_cam = items(S['g'], S['test_ids'], S['cams'], 1)
    import numpy as np
    x = planted(np.concatenate([q_pid, g_pid]), S['test_ids'], D_EVAL, 1.8, seed)   # Market-size mAP ≈ 0.6
    return x[:S['q']], x[S['q']:], q_pid, g_pid, q_cam, g_cam

def run_eval(S, size, a):
    import numpy as np
    from uga_fast.all import evaluate_features
    qf, gf, qp, gp, qc, gc = eval_data(S, a)
    nq = eval_nq(S, a); s = np.linspace(0, S['q'] - 1, nq).round().astype(int)
    qf, qp, qc = qf[s], qp[s], qc[s]
    yield
    t0 = time.perf_counter()
    r = evaluate_features(qf, gf, qp, gp, qc, gc)
    t = time.perf_counter() - t0
    full = t * S['q'] / nq
    yield dict(note=(f"{nq:,} of {S['q']:,} queries (evenly spaced): " if nq < S['q'] else '') +
               f"{t / nq * 1000:.2f} s per 1k queries" + (f", all {S['q']:,} ~{full:,.0f} s" if nq < S['q'] else '') +
               f"; mAP {r['mAP']:.3f}", full=full if nq < S['q'] else None)

def run_eval_video(S, size, a):
    import numpy as np
    from uga_fast.all import evaluate_video
    pid, cam, cnt, _ = tracks(S['q'] + S['g'], S['test_ids'], S['cams'], S['test_frames'], seed=1)
    trk = np.repeat(np.arange(len(cnt)), cnt); x = planted(pid[trk], S['test_ids'], D_EVAL, 14.)   # ~60 frames a tracklet: pooled noise ≈ 1.8
    q = trk < S['q']
    yield
    r = evaluate_video(x[q], x[~q], trk[q], trk[~q], pid[trk][q], pid[trk][~q], cam[trk][q], cam[trk][~q])
    yield f"{S['q']:,} × {S['g']:,} tracklets from {S['test_frames']:,} frames; mAP {r['mAP']:.3f}"

def run_rerank(S, size, a):
    from uga_fast.all import evaluate_rank
    from uga_fast.rerank import re_ranking
    qf, gf, qp, gp, qc, gc = eval_data(S, a)
    yield
    t0 = time.perf_counter(); d = re_ranking(qf, gf); t1 = time.perf_counter()
    r = evaluate_rank(d, qp, gp, qc, gc)
    yield f"re_ranking {t1 - t0:.1f} s + evaluate_rank {time.perf_counter() - t1:.1f} s; {tuple(d.shape)} {d.dtype}; mAP {r['mAP']:.3f}"

def run_rerank_blocks(S, size, a):
    import uga_fast.rerank as rr
    from uga_fast.all import evaluate_rank
    if not hasattr(rr, 're_ranking_blocks'): yield dict(skip='uga_fast.rerank has no re_ranking_blocks yet'); return
    qf, gf, qp, gp, qc, gc = eval_data(S, a)
    yield
    try: r = evaluate_rank(rr.re_ranking_blocks(qf, gf), qp, gp, qc, gc)
    except (TypeError, ValueError) as e:
        if 'distmat' not in str(e) and 'iterable' not in str(e): raise
        yield dict(skip=f"evaluate_rank does not take (i, block) pairs yet ({type(e).__name__}: {str(e)[:80]})"); return
    yield f"mAP {r['mAP']:.3f}"

CHILDREN = dict(readers=run_readers, sampler=run_sampler, centroids=run_centroids,
                cvg=lambda S, z, a: run_cvg(S, z, a, 0.65), **{'cvg-auto': lambda S, z, a: run_cvg(S, z, a, 'auto')},
                eval=run_eval, **{'eval-video': run_eval_video, 'rerank': run_rerank, 'rerank-blocks': run_rerank_blocks})

def child(stage, size, a):
    "Run one (stage, size): set up, then time the part after the first `yield`; print one RESULT line"
    import warnings; warnings.filterwarnings('ignore')
    import uga_fast.all  # noqa: F401 -- the baseline every row starts from
    S = dict(SIZES[size], sample=size == 'msmt17x10')
    if stage == 'baseline': print('RESULT', json.dumps({})); return
    if stage == 'write': t0 = time.perf_counter(); WRITERS[size](Path(a.work)/f'layout_{size}', SIZES[size]); print('RESULT', json.dumps(dict(time=time.perf_counter() - t0))); return
    if stage == 'gallery': t0 = time.perf_counter(); write_gallery(Path(a.work)/f'gallery_{size}', SIZES[size]); print('RESULT', json.dumps(dict(time=time.perf_counter() - t0))); return
    g = CHILDREN[stage](S, size, a)
    first = next(g)
    if isinstance(first, dict): print('RESULT', json.dumps(first)); return
    start = rss_now(); t0 = time.perf_counter()
    out = next(g)
    t = time.perf_counter() - t0
    out = out if isinstance(out, dict) else dict(note=out)
    print('RESULT', json.dumps(dict(out, time=t, start=start)))

# --------------------------------------------------------------------------------------------------- the parent
def run_proc(cmd, log, max_gb, timeout):
    "Run `cmd` (output to `log`), killed past `max_gb` of RSS or `timeout` s: (exit code, peak RSS bytes, seconds, why killed)"
    t0, why = time.time(), None
    with open(log, 'w') as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONWARNINGS='ignore'))
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid: break
            try: rss = next(int(l.split()[1]) * 1024 for l in open(f'/proc/{p.pid}/status') if l.startswith('VmRSS'))
            except (OSError, StopIteration): rss = 0
            if rss > max_gb * GB: why = f'killed: RSS passed --max-gb {max_gb:g}'
            elif time.time() - t0 > timeout: why = f'killed: ran past {timeout:.0f} s'
            if why: p.kill()
            time.sleep(0.2)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, ru.ru_maxrss * 1024, time.time() - t0, why

def result_of(log):
    lines = [l for l in Path(log).read_text().splitlines() if l.startswith('RESULT ')]
    return json.loads(lines[-1][7:]) if lines else None

class Bench:
    def __init__(self, a):
        self.a, self.rows, self.work = a, [], Path(a.work)
        self.base = None

    def proc(self, name, cmd, timeout=None, result=True):
        "Run `cmd` as one measured process: (its RESULT, or {} for a command without one; peak bytes; seconds; why it failed or None)"
        log = self.work/f"{re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_')}.log"
        rc, peak, wall, why = run_proc(cmd, log, self.a.max_gb, timeout or self.a.timeout)
        res = (result_of(log) if result else {}) if rc == 0 else None
        if res is None and why is None:
            tail = Path(log).read_text().strip().splitlines()[-3:]
            why = f"failed (exit {rc}): {' | '.join(tail)[-200:]}"
        return res, peak, wall, why

    def child_cmd(self, stage, size): return [sys.executable, str(HERE), '--child', stage, size, '--work', str(self.work),
                                             '--sample-queries', str(self.a.sample_queries)]

    def add(self, stage, size, n=None, time_=None, peak=None, start=None, note='', full=None, skipped=False):
        r = dict(stage=stage, size=size, n=n, time=time_, peak=peak, start=start, note=note, full=full, skipped=skipped)
        self.rows.append(r); print(fmt_row(r, self.prev(r), self.base), flush=True)

    def prev(self, r):
        "The same stage's measured row before `r`"
        ms = [x for x in self.rows[:next(i for i, x in enumerate(self.rows) if x is r)]
              if x['stage'] == r['stage'] and not x['skipped'] and x['time'] is not None]
        return ms[-1] if ms else None

    def predict(self, stage, size):
        "Predicted (peak bytes, seconds or None) of (stage, size) from the stage's previous measured size"
        st, S, a = STAGES[stage], dict(SIZES[size], sample=size == 'msmt17x10'), self.a
        p = next((x for x in reversed(self.rows) if x['stage'] == stage and not x['skipped'] and x['time'] is not None), None)
        if p is None: return self.base + st['first'](S, a), None
        P = dict(SIZES[p['size']], sample=p['size'] == 'msmt17x10')
        grow = lambda f: f(S, a) / f(P, a)
        added = p['peak'] - self.base                      # under 0.1 GB: noise, scaled up it says nothing; the inputs do
        mem = added * grow(st['mem']) if added > 0.1 * GB else st['first'](S, a)
        return self.base + mem, (p['full'] or p['time']) * grow(st['work'])

    def gate(self, stage, size):
        "A reason to skip (stage, size), or None"
        S = dict(SIZES[size], sample=size == 'msmt17x10')
        why = STAGES[stage].get('skip', lambda S, a: None)(S, self.a)
        if why: return why
        mem, secs = self.predict(stage, size)
        if mem > self.a.max_gb * GB: return f"predicted peak {mem / GB:.1f} GB > --max-gb {self.a.max_gb:g}"
        if secs is not None and secs > self.a.max_s: return f"predicted {secs:,.0f} s > --max-s {self.a.max_s:g} (grows as {grow_word(stage)})"
        return None

    def measure(self, stage, size):
        n = STAGES[stage]['n'](SIZES[size])
        why = self.gate(stage, size)
        if why: return self.add(stage, size, n, note=f'skipped: {why}', skipped=True)
        res, peak, wall, err = self.proc(f'{stage}_{size}', self.child_cmd(stage, size))
        if err or res is None: return self.add(stage, size, n, peak=peak, note=err or 'no result', skipped=True)
        if 'skip' in res: return self.add(stage, size, n, note=f"skipped: {res['skip']}", skipped=True)
        self.add(stage, size, n, res['time'], peak, res['start'], res.get('note', ''), res.get('full'))

    def cli(self, stage, size, gal):
        "`uga-fast embed` or `uga-fast search` over the gallery folder `gal`, as one measured process"
        n = SIZES[size]['g']
        why = self.gate(stage, size)
        if why: return self.add(stage, size, n, note=f'skipped: {why}', skipped=True)
        model = ['--weights', str(gal/'weights.pth'), '--arch', 'resnet10t', '--height', str(JPEG_HW[0]), '--width', str(JPEG_HW[1]), '--device', 'cpu']
        args = (['embed', '--images', str(gal/'gallery'), '--out', str(gal/'feats.npz')] if stage == 'embed' else
                ['search', '--query', str(gal/'query'), '--gallery', str(gal/'gallery'), '--show', '0'])
        cmd = [sys.executable, '-c', 'import sys\nfrom uga_fast.cli import main\nsys.exit(main(sys.argv[1:]))', *args, *model]
        _, peak, wall, err = self.proc(f'{stage}_{size}', cmd, result=False)
        if err: return self.add(stage, size, n, peak=peak, note=err, skipped=True)
        what = f"{n:,} gallery JPEGs {JPEG_HW[0]}×{JPEG_HW[1]}" + (f", {N_QUERIES} queries" if stage == 'search' else '')
        self.add(stage, size, n, wall, peak, None, f"{what}; whole CLI process; {n / wall:,.0f} images/s")

    def setup(self, what, size):
        "Write a layout or a gallery folder in its own process; None, or why it failed"
        res, peak, wall, err = self.proc(f'{what}_{size}', self.child_cmd(what, size), timeout=3600)
        if err: print(f"  ({what} {size}: {err})"); return err
        folder = self.work/f"{'gallery' if what == 'gallery' else 'layout'}_{size}"
        print(f"  ({what} {size}: {folder_stats(folder)} written in {res['time']:.0f} s)", flush=True)

def grow_word(stage): return {1: 'n', 2: 'n²'}[2 if stage in ('cvg', 'cvg-auto', 'eval', 'rerank', 'rerank-blocks') else 1]

def folder_stats(d):
    n = int(subprocess.run(['bash', '-c', f'find {d} -type f | wc -l'], capture_output=True, text=True).stdout or 0)
    return f"{n:,} files"

def fmt_num(x, f, dash='-'): return dash if x is None else format(x, f)

def fmt_row(r, p, base):
    "One printed row: stage, size, n, ×n, time, ×time, peak, +GB, ×+GB, start, note"
    ex = lambda r: None if r['peak'] is None or base is None else max(r['peak'] - base, 0) / GB
    t = lambda r: r['full'] or r['time']
    xn = xt = xm = None
    if p and not r['skipped'] and r['time'] is not None:
        xn, xt = r['n'] / p['n'], t(r) / max(t(p), 1e-9)
        xm = ex(r) / ex(p) if ex(p) and ex(p) > 0.01 else None
    tcol = '-' if r['time'] is None else (f"{r['time']:.2f}" if r['time'] < 100 else f"{r['time']:.0f}")
    return (f"{r['stage']:<13} {SIZES.get(r['size'], {}).get('label', r['size']):<12} {fmt_num(r['n'], ',.0f'):>10} {fmt_num(xn, '.1f'):>5}"
            f" {tcol:>8} {('~' if r['full'] else '') + fmt_num(xt, '.1f'):>6} {fmt_num(None if r['peak'] is None else r['peak'] / GB, '.2f'):>6}"
            f" {fmt_num(ex(r), '.2f'):>6} {fmt_num(xm, '.1f'):>5} {fmt_num(None if r['start'] is None else r['start'] / GB, '.2f'):>6}  {r['note']}")

HEADER = (f"{'stage':<13} {'size':<12} {'n':>10} {'×n':>5} {'time s':>8} {'×time':>6} {'peak':>6} {'+GB':>6} {'×+GB':>5} {'start':>6}  note")

def machine():
    import torch
    cpu = next((l.split(':')[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor())
    mem = next(int(l.split()[1]) * 1024 for l in open('/proc/meminfo') if l.startswith('MemTotal'))
    return (f"machine: {os.cpu_count()} cores, {cpu}, {mem / GB:.0f} GB RAM; Python {platform.python_version()}, torch {torch.__version__}; "
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--sizes', default='market,msmt17,mars,msmt17x10,city', help=f"comma-separated, of {', '.join(SIZES)}")
    ap.add_argument('--stages', default=','.join(ORDER), help=f"comma-separated, of {', '.join(ORDER)}")
    ap.add_argument('--max-gb', type=float, default=16, help='skip a row whose predicted peak RSS exceeds this; kill a run that passes it')
    ap.add_argument('--max-s', type=float, default=600, help='skip a row whose predicted time exceeds this many seconds')
    ap.add_argument('--timeout', type=float, default=1200, help='kill a row that runs longer than this many seconds')
    ap.add_argument('--sample-queries', type=int, default=2000, help='queries evaluated at msmt17x10 (the rest extrapolated)')
    ap.add_argument('--work', default='', help='folder of the layouts, galleries and logs (default: a new temporary folder)')
    ap.add_argument('--keep', action='store_true', help='keep the work folder (layouts, galleries, logs)')
    ap.add_argument('--child', nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child: return child(*a.child, a)
    sizes, stages = a.sizes.split(','), a.stages.split(',')
    for s in sizes:
        if s not in SIZES: ap.error(f"--sizes: unknown size {s!r}; expected some of {', '.join(SIZES)}")
    for s in stages:
        if s not in ORDER: ap.error(f"--stages: unknown stage {s!r}; expected some of {', '.join(ORDER)}")
    print(machine())
    work = Path(a.work or tempfile.mkdtemp(prefix='bench_scale_')); work.mkdir(parents=True, exist_ok=True); a.work = str(work)
    print(f"work folder: {work}; limits: --max-gb {a.max_gb:g}, --max-s {a.max_s:g}, --timeout {a.timeout:g}\n", flush=True)
    b, t_all = Bench(a), time.time()
    res, peak, wall, err = b.proc('baseline', b.child_cmd('baseline', 'market'))
    if err: raise SystemExit(f"baseline: {err}")
    b.base = peak
    print(HEADER)
    b.add('baseline', 'python + import uga_fast.all', None, wall, peak, None, 'the whole process')
    try:
        for stage in [s for s in ORDER if s in stages]:
            for size in sorted([z for z in STAGES[stage]['sizes'] if z in sizes], key=lambda z: STAGES[stage]['n'](SIZES[z])):   # smallest first
                if stage == 'readers': measure_readers(b, size)
                elif stage in ('embed', 'search'):
                    if stage == 'search' and 'embed' in stages: continue          # measured with embed, over the same folder
                    measure_cli(b, size, ['embed', 'search'] if 'embed' in stages and 'search' in stages else [stage])
                else: b.measure(stage, size)
    finally:
        print(f"\n{HEADER}")
        for r in b.rows: print(fmt_row(r, b.prev(r) if r['stage'] != 'baseline' else None, b.base))
        print("\n×n: the stage's size measure against its previous size; ×time, ×+GB: growth of its time and of what it adds to the "
              "baseline's peak (~: from an extrapolated full time). Linear: ×time ≈ ×n; quadratic: ×time ≈ ×n².")
        if a.keep: print(f"work folder kept: {work}")
        else: shutil.rmtree(work, ignore_errors=True)
        print(f"total {time.time() - t_all:.0f} s")

def measure_readers(b, size):
    n = n_files(SIZES[size])
    why = b.gate('readers', size)
    if why: return b.add('readers', size, n, note=f'skipped: {why}', skipped=True)
    d = b.work/f'layout_{size}'
    try:
        if not (d/'.complete').exists():
            shutil.rmtree(d, ignore_errors=True)
            if b.setup('write', size): return b.add('readers', size, n, note='the layout could not be written', skipped=True)
            (d/'.complete').touch()
        b.measure('readers', size)
    finally:
        if not b.a.keep: t0 = time.time(); shutil.rmtree(d, ignore_errors=True); print(f"  (layout {size} removed in {time.time() - t0:.0f} s)", flush=True)

def measure_cli(b, size, stages):
    "`embed` and/or `search` at `size` over one gallery folder, written once (kept and reused with --keep)"
    why = {s: b.gate(s, size) for s in stages}
    if all(why.values()):
        for s in stages: b.add(s, size, SIZES[size]['g'], note=f'skipped: {why[s]}', skipped=True)
        return
    d = b.work/f'gallery_{size}'
    try:
        if not (d/'weights.pth').exists():
            shutil.rmtree(d, ignore_errors=True)
            if b.setup('gallery', size): why = {s: why[s] or 'the gallery could not be written' for s in stages}
        for s in stages:
            if why[s]: b.add(s, size, SIZES[size]['g'], note=f'skipped: {why[s]}', skipped=True)
            else: b.cli(s, size, d)
    finally:
        if not b.a.keep: shutil.rmtree(d, ignore_errors=True)

if __name__ == '__main__': main()
