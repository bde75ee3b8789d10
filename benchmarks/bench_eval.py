#!/usr/bin/env python
"""Speed and memory of `uga_fast.metrics` against a straightforward per-query NumPy evaluation.

    python benchmarks/bench_eval.py            # all cases, each in its own process; prints a table (a few minutes)
    python benchmarks/bench_eval.py --quick    # Market-1501 size only

Synthetic features with planted identities (identity centroid + camera shift + noise), at the sizes of
Market-1501 (3,368 queries × 15,913 gallery, 751 identities + 2,793 distractors of pid 0, 6 cameras) and
MSMT17 (11,659 × 82,161, 3,060 identities, 15 cameras), 1,024-d like UGA's embedding. The noise is set so
that Market-size mAP is about 0.7, a trained model's range.

Baseline: what the toolboxes' Python evaluation does (torchreid / fast-reid `eval_market1501`): the full
distance matrix, an argsort of the whole matrix, then one Python iteration per query (its AP written with NumPy
vector ops rather than the toolboxes' per-element list comprehension, which is slower still). Its argsort is
`kind='stable'` so that ties are broken like ours and the numbers can be compared exactly.

Each case runs in a fresh subprocess, which reports its wall times and its peak resident memory
(`ru_maxrss`, features and the Python/torch runtime included).
"""
import argparse, json, os, platform, resource, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np, torch

SIZES = dict(market=dict(nq=3368, ng=15913, n_ids=751, n_distractors=2793, n_cams=6, dim=1024),
             msmt=dict(nq=11659, ng=82161, n_ids=3060, n_distractors=0, n_cams=15, dim=1024))
NOISE, SEED, MAX_RANK = 2.5, 0, 50

def make_data(nq, ng, n_ids, n_distractors, n_cams, dim, noise=NOISE, seed=SEED):
    "Deterministic features: centroid[pid] + shift[cam] + noise (distractors, pid 0: shift + noise only)"
    g = torch.Generator().manual_seed(seed)
    centroids, shifts = torch.randn(n_ids + 1, dim, generator=g), torch.randn(n_cams, dim, generator=g) * 0.5
    centroids[0] = 0
    def draw(n, pid):
        cam = torch.randint(0, n_cams, (n,), generator=g)
        x = torch.empty(n, dim)
        for s in range(0, n, 8192):
            e = min(s + 8192, n)
            x[s:e] = torch.randn(e - s, dim, generator=g).mul_(noise).add_(centroids[pid[s:e]]).add_(shifts[cam[s:e]])
        return x, pid.numpy(), cam.numpy()
    q_pid = torch.randint(1, n_ids + 1, (nq,), generator=g)
    g_pid = torch.cat([torch.randint(1, n_ids + 1, (ng - n_distractors,), generator=g),
                       torch.zeros(n_distractors, dtype=torch.long)])
    return draw(nq, q_pid), draw(ng, g_pid)

def numpy_cosine_distmat(qf, gf):
    "The baseline's full distance matrix (float32, NumPy)"
    qn = qf / np.linalg.norm(qf, axis=1, keepdims=True); gn = gf / np.linalg.norm(gf, axis=1, keepdims=True)
    d = qn @ gn.T
    np.subtract(np.float32(1), d, out=d)
    return d

def baseline_eval(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50):
    "The toolboxes' per-query evaluation (torchreid/fast-reid `eval_market1501`, Python version), stable argsort"
    num_q, num_g = distmat.shape
    indices = np.argsort(distmat, axis=1, kind='stable')
    matches = (g_pids[indices] == q_pids[:, np.newaxis]).astype(np.int32)
    all_cmc, all_AP, all_INP = [], [], []
    for q_idx in range(num_q):
        order = indices[q_idx]
        remove = (g_pids[order] == q_pids[q_idx]) & (g_camids[order] == q_camids[q_idx])
        raw_cmc = matches[q_idx][np.invert(remove)]
        if not np.any(raw_cmc): continue
        cmc = raw_cmc.cumsum()
        max_pos_idx = np.flatnonzero(raw_cmc == 1).max()
        all_INP.append(cmc[max_pos_idx] / (max_pos_idx + 1.0))
        cmc[cmc > 1] = 1
        all_cmc.append(cmc[:max_rank])
        tmp_cmc = raw_cmc.cumsum() / np.arange(1, len(raw_cmc) + 1) * raw_cmc
        all_AP.append(tmp_cmc.sum() / raw_cmc.sum())
    return dict(cmc=np.asarray(all_cmc, dtype=np.float64).mean(0), mAP=float(np.mean(all_AP)), mINP=float(np.mean(all_INP)),
                n_valid_queries=len(all_AP))

def peak_rss_gb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20   # ru_maxrss is in KiB on Linux

def rss_gb():
    with open('/proc/self/statm') as f: return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**30

def run_case(case):
    "Run one case in this process; return a dict of timings, memory and results"
    from uga_fast.metrics import evaluate_rank, evaluate_features
    size = case.split('_')[0]
    (qf, qp, qc), (gf, gp, gc) = make_data(**SIZES[size])
    out = dict(case=case, rss_data_gb=rss_gb())
    if case in ('market_baseline', 'market_rank'):
        t = time.perf_counter(); d = numpy_cosine_distmat(qf.numpy(), gf.numpy()); out['t_dist'] = time.perf_counter() - t
        fn = baseline_eval if case == 'market_baseline' else evaluate_rank
        ts = []
        for _ in range(2):                                   # best of 2: the machine may be shared
            t = time.perf_counter(); res = fn(d, qp, gp, qc, gc, max_rank=MAX_RANK); ts.append(time.perf_counter() - t)
        out['t_eval'] = min(ts)
    else:
        ts = []
        for _ in range(2 if size == 'market' else 1):
            t = time.perf_counter(); res = evaluate_features(qf, gf, qp, gp, qc, gc, max_rank=MAX_RANK); ts.append(time.perf_counter() - t)
        out['t_eval'] = min(ts)
    out.update(cmc=[float(x) for x in res['cmc']], mAP=res['mAP'], mINP=res['mINP'], n_valid=res['n_valid_queries'],
               peak_rss_gb=peak_rss_gb())
    return out

def machine():
    model = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor())
    fam = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('cpu family')), '?')
    mem = next((int(l.split()[1]) / 2**20 for l in open('/proc/meminfo') if l.startswith('MemTotal')), 0)
    return (f"{os.cpu_count()} cores, {model} (cpu family {fam}), {mem:.0f} GiB RAM; torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), numpy {np.__version__}")

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--case', help='run a single case in this process and print its JSON')
    ap.add_argument('--quick', action='store_true', help='Market-1501 size only')
    a = ap.parse_args()
    if a.case: print(json.dumps(run_case(a.case))); return
    cases = ['market_baseline', 'market_rank', 'market_features'] + ([] if a.quick else ['msmt_features'])
    print(f"Machine: {machine()}")
    print(f"Load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    R = {}
    for c in cases:
        p = subprocess.run([sys.executable, __file__, '--case', c], capture_output=True, text=True)
        if p.returncode: sys.exit(f"case {c} failed:\n{p.stderr}")
        R[c] = json.loads(p.stdout.strip().splitlines()[-1])
    base = R['market_baseline']
    def diff(r):
        return max(abs(r['mAP'] - base['mAP']), abs(r['mINP'] - base['mINP']),
                   float(np.abs(np.array(r['cmc']) - np.array(base['cmc'])).max()))
    rows = [('Market-1501 3,368×15,913', 'baseline: NumPy distmat', base['t_dist'], None, None, None),
            ('', 'baseline: argsort + per-query loop', base['t_eval'], base['peak_rss_gb'], base, None),
            ('', 'evaluate_rank (same distmat)', R['market_rank']['t_eval'], R['market_rank']['peak_rss_gb'], R['market_rank'], diff(R['market_rank'])),
            ('', 'evaluate_features (end to end)', R['market_features']['t_eval'], R['market_features']['peak_rss_gb'], R['market_features'], diff(R['market_features']))]
    if 'msmt_features' in R:
        m = R['msmt_features']
        rows.append(('MSMT17 11,659×82,161', 'evaluate_features (end to end)', m['t_eval'], m['peak_rss_gb'], m, None))
    print(f"\n{'problem (1024-d)':<26} {'method':<36} {'time s':>7} {'peak RSS GB':>11} {'mAP':>7} {'rank-1':>7} {'mINP':>7} {'max|Δ| vs baseline':>19}")
    for prob, meth, t, rss, r, dlt in rows:
        print(f"{prob:<26} {meth:<36} {t:>7.2f} " + (f"{rss:>11.2f} " if rss is not None else ' ' * 12) +
              (f"{r['mAP']:>7.4f} {r['cmc'][0]:>7.4f} {r['mINP']:>7.4f} " if r else ' ' * 24) +
              (f"{dlt:>19.1e}" if dlt is not None else ''))
    print(f"\nSpeed-up, ranking a given distance matrix: {base['t_eval'] / R['market_rank']['t_eval']:.0f}x "
          f"({base['t_eval']:.2f} s -> {R['market_rank']['t_eval']:.2f} s)")
    print(f"Speed-up, features to metrics (baseline distmat + ranking): {(base['t_dist'] + base['t_eval']) / R['market_features']['t_eval']:.1f}x "
          f"({base['t_dist'] + base['t_eval']:.2f} s -> {R['market_features']['t_eval']:.2f} s; the distance matmul is common to both)")
    if 'msmt_features' in R:
        print(f"MSMT17: the baseline would hold a {11659 * 82161 * 4 / 2**30:.1f} GiB float32 matrix plus a "
              f"{11659 * 82161 * 8 / 2**30:.1f} GiB int64 argsort: not run. Ours peaked at {R['msmt_features']['peak_rss_gb']:.2f} GB "
              f"({R['msmt_features']['rss_data_gb']:.2f} GB of it already held once the features were made: features + Python/torch runtime).")
    print(f"Peak RSS includes the features and the Python/torch runtime. Load average after: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (timings are best of 2 on Market, 1 on MSMT).")

if __name__ == '__main__': main()
