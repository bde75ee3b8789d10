#!/usr/bin/env python
"""Speed and memory of `build_cvg` against a straightforward per-camera-pair implementation.

    python benchmarks/bench_cvg.py            # 5k / 20k / 50k nodes, each case in its own process; prints a table
    python benchmarks/bench_cvg.py --quick    # 5k and 20k only

Nodes: 1,024-d features (UGA's embedding) with planted identities (identity centroid + camera shift + noise) over 15
cameras, as many nodes as MSMT17 has tracklets at 50k (its training set has 32,621).

Baseline: the way one writes Eq. 4-5 first: for every pair of cameras (t, m), the dense M_t × M_m similarity matrix,
the top-K along rows (i's neighbours in m) and along columns (j's neighbours in t), the mutual mask, λ, and the
edges of that pair. Both give the same graph (checked here, edge for edge).

Each case runs in a fresh subprocess, which reports its wall time and its peak resident memory (`ru_maxrss`,
the features and the Python/torch runtime included) above what it held before the call.
"""
import argparse, json, os, platform, resource, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch, torch.nn.functional as F

N_CAMS, DIM, LAM, K = 15, 1024, 0.65, 1

def make_nodes(n, n_cams=N_CAMS, dim=DIM, seed=0):
    "n nodes, about one per (identity, camera): centroid[pid] + 0.5 shift[cam] + 0.6 noise (same-person cosine about 0.7)"
    g = torch.Generator().manual_seed(seed)
    n_ids = max(1, n // 5)
    pid, cam = torch.randint(0, n_ids, (n,), generator=g), torch.randint(0, n_cams, (n,), generator=g)
    centroids, shifts = torch.randn(n_ids, dim, generator=g), 0.5 * torch.randn(n_cams, dim, generator=g)
    x = torch.empty(n, dim)
    for s in range(0, n, 4096):           # in chunks: no N×d temporaries to inflate the memory baseline
        e = min(s + 4096, n)
        x[s:e] = centroids[pid[s:e]] + shifts[cam[s:e]] + 0.6 * torch.randn(e - s, dim, generator=g)
    return x, cam

def per_pair_cvg(feats, cams, lam=LAM, k=K):
    "Eq. 4-5 camera pair by camera pair, dense within each pair (symmetric constraint)"
    x, N, T = F.normalize(feats.float(), dim=1), len(feats), int(cams.max()) + 1
    idx = [torch.nonzero(cams == t).flatten() for t in range(T)]
    I, J, V = [torch.arange(N)], [torch.arange(N)], [torch.ones(N)]
    for t in range(T):
        for m in range(t + 1, T):
            S = x[idx[t]] @ x[idx[m]].t()                                # M_t × M_m
            row = torch.zeros_like(S, dtype=torch.bool).scatter_(1, S.topk(min(k, S.shape[1]), 1).indices, True)
            col = torch.zeros_like(S, dtype=torch.bool).scatter_(0, S.topk(min(k, S.shape[0]), 0).indices, True)
            a, b = torch.nonzero(row & col & (S > lam), as_tuple=True)
            v = S[a, b]
            I += [idx[t][a], idx[m][b]]; J += [idx[m][b], idx[t][a]]; V += [v, v]
    return torch.sparse_coo_tensor(torch.stack([torch.cat(I), torch.cat(J)]), torch.cat(V), (N, N)).coalesce()

def run_case(n, impl):
    from uga_fast.graph import build_cvg
    torch.set_num_threads(os.cpu_count())
    feats, cams = make_nodes(n)
    fn = build_cvg if impl == 'build_cvg' else per_pair_cvg
    fn(feats[:500], cams[:500], LAM, K)                                  # warm-up
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter(); W = fn(feats, cams, LAM, K); dt = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    i, j = W.indices()
    return dict(n=n, impl=impl, seconds=dt, peak_mb=(peak - rss0) / 1024, edges=int((i != j).sum()) // 2,
                checksum=float((W.values() * (i * 7 + j * 13).float()).sum()))

def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--quick', action='store_true'); ap.add_argument('--case', nargs=2)
    a = ap.parse_args()
    if a.case: print(json.dumps(run_case(int(a.case[0]), a.case[1]))); return
    sizes = [5000, 20000] + ([] if a.quick else [50000])
    print(f"build_cvg vs per-camera-pair, {N_CAMS} cameras, {DIM}-d, λ={LAM}, K={K}, symmetric; "
          f"torch {torch.__version__}, {os.cpu_count()} CPU threads, {platform.processor() or platform.machine()}")
    print(f"{'nodes':>7} {'implementation':>15} {'seconds':>9} {'peak MB':>9} {'edges':>8}  same graph")
    for n in sizes:
        res = {}
        for impl in ('build_cvg', 'per_pair'):
            out = subprocess.run([sys.executable, __file__, '--case', str(n), impl], capture_output=True, text=True, check=True)
            res[impl] = r = json.loads(out.stdout.strip().splitlines()[-1])
            same = '' if impl == 'build_cvg' else ('yes' if (r['edges'], round(r['checksum'], 1)) == (res['build_cvg']['edges'], round(res['build_cvg']['checksum'], 1)) else 'NO')
            print(f"{n:>7} {impl:>15} {r['seconds']:>9.2f} {r['peak_mb']:>9.0f} {r['edges']:>8}  {same}", flush=True)

if __name__ == '__main__': main()
