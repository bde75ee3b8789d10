#!/usr/bin/env python
"""The cross-view graph at scale: `build_cvg` exact against a dense reference at 20k nodes, and time and peak memory at 200k.

    python benchmarks/bench_cvg.py            # agreement at 20k, then 200k nodes over 100 cameras at d=256 and d=1024 (about an hour, 1 thread)
    python benchmarks/bench_cvg.py --quick    # agreement at 20k, then 200k at d=256 only
    python benchmarks/bench_cvg.py --nodes 50000 --dims 256 --skip-agreement   # one size of your own
    python benchmarks/bench_cvg.py --skip-agreement --nodes 45000 --cams 150 --dims 1024 --ranks 2   # 10x MSMT17, 2 ranks (shard=True)
    UGA_SRC=/path/to/other/checkout python benchmarks/bench_cvg.py ...          # the same cases on another version of uga_fast

Nodes: planted identities (an identity's direction + a camera's shift + noise; same-person cosine about 0.7), as many per
camera in every camera (200k nodes over 100 cameras: 2,000 tracklets a camera, the scale of a city's deployment), in a random
order. Features are float32.

Agreement (20k nodes; 100 cameras of 200 and 10 cameras of 2,000, d=1024): the reference is Eq. 4-5 read off the full N×N
cosine matrix: same-camera entries masked, the top K of every (node, other camera), mutual (or one-sided), > λ, self-loops;
λ='auto' is the q-quantile of every (node, other camera)'s (K+1)-th cosine (cameras with more than K nodes). Each row compares the
graph of `build_cvg` with it for K in (1, 2), symmetric on and off, λ=0.65 and 'auto': edges that differ (either way) and the
largest |Δ| of the weights of the edges both hold.

Scale: `build_cvg` at λ=0.65 and λ='auto' and `cross_camera_knn` (every candidate), K=1, symmetric; '(features only)' is the
process that makes the features and imports the library, and nothing else: the floor under the other rows. Every measurement runs in a
fresh process; its peak resident memory is the kernel's `ru_maxrss` for that process (`os.wait4`), the features and the
Python/torch runtime included (the 'features' column says how much of it is the N×d input). A process that passes the cap
(--cap-gb, 8 GB) is killed and reported as such. Threads: OMP_NUM_THREADS (1 if unset). With --ranks R the case runs under
torchrun (gloo) with `shard=True`: each rank compares its share of the camera pairs and the edges are gathered; the seconds are
rank 0's, the peak the largest rank's. 'CPU s' is the process's own CPU time (rank 0's): on a shared machine, the work a call
did, whatever else ran beside it.
"""
import argparse, json, os, platform, socket, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, os.environ.get('UGA_SRC', str(Path(__file__).resolve().parents[1])))
os.environ.setdefault('OMP_NUM_THREADS', '1')
import torch, torch.nn.functional as F

LAM, Q = 0.65, 0.95

def make_nodes(n:int, n_cams:int, dim:int, seed:int=0)->tuple:
    "n nodes, n // n_cams per camera in a random order: identity[pid] + 0.5 shift[cam] + 0.6 noise, float32"
    g = torch.Generator().manual_seed(seed)
    n_ids = max(1, n // 5)
    cam = torch.arange(n_cams).repeat_interleave(n // n_cams)[torch.randperm(n // n_cams * n_cams, generator=g)]
    pid = torch.randint(0, n_ids, (len(cam),), generator=g)
    ids, shifts = torch.randn(n_ids, dim, generator=g), 0.5 * torch.randn(n_cams, dim, generator=g)
    x = torch.empty(len(cam), dim)
    for s in range(0, len(cam), 4096):    # in chunks: no N×d temporaries to inflate the peak
        e = min(s + 4096, len(cam))
        x[s:e] = ids[pid[s:e]] + shifts[cam[s:e]] + 0.6 * torch.randn(e - s, dim, generator=g)
    return x, cam

def dense_cvg(S:torch.Tensor, cam:torch.Tensor, lam, k:int, symmetric:bool)->tuple:
    "Eq. 4-5 on the full cosine matrix S (same-camera entries already -inf): (edges as a set of (i, j), weights, λ)"
    N, top, null = len(S), torch.zeros(S.shape, dtype=torch.bool), []
    for m in torch.unique(cam).tolist():                 # per other camera: the K (and K+1-th) highest of every row
        cols = torch.nonzero(cam == m).flatten()
        v, j = S[:, cols].topk(min(k + 1, len(cols)), dim=1)
        other = cam != m
        top[torch.nonzero(other).flatten()[:, None], cols[j[other, :k]]] = True
        if len(cols) > k: null.append(v[other, k])
    lam = torch.quantile(torch.cat(null), Q).item() if lam == 'auto' else lam
    keep = (top & top.t() if symmetric else top) & (S > lam)
    i, j = torch.nonzero(keep, as_tuple=True)
    return i * N + j, S[i, j], lam

def graph_edges(W:torch.Tensor)->tuple:
    "A `build_cvg` graph's cross-camera entries as keys i·N + j and their weights"
    W = W.coalesce(); (i, j), v = W.indices(), W.values()
    off = i != j
    return i[off] * W.shape[0] + j[off], v[off]

def compare(key, val, ref_key, ref_val)->tuple:
    "(edges that differ, max |Δ| of the common edges' weights)"
    o, r = torch.argsort(key), torch.argsort(ref_key)
    key, val, ref_key, ref_val = key[o], val[o], ref_key[r], ref_val[r]
    both = torch.isin(key, ref_key)
    diff = int((~both).sum() + (~torch.isin(ref_key, key)).sum())
    dv = (val[both] - ref_val[torch.isin(ref_key, key)]).abs().max().item() if both.any() else 0.
    return diff, dv

def agreement_case(n:int, n_cams:int, dim:int)->list:
    from uga_fast.graph import cvg_with_lambda
    x, cam = make_nodes(n, n_cams, dim)
    rows = []
    t = time.perf_counter()
    xn = F.normalize(x, dim=1)
    S = xn @ xn.t()
    S[cam[:, None] == cam[None]] = -float('inf')
    t_dense = time.perf_counter() - t
    for k in (1, 2):
        for sym in (True, False):
            for lam in (LAM, 'auto'):
                t = time.perf_counter(); W, l = cvg_with_lambda(x, cam, lam=lam, k=k, symmetric=sym, q=Q); dt = time.perf_counter() - t
                rk, rv, rl = dense_cvg(S, cam, lam, k, sym)
                diff, dv = compare(*graph_edges(W), rk, rv)
                rows.append(dict(k=k, symmetric=sym, lam=str(lam), lam_value=l, lam_diff=abs(l - rl), edges=len(rk) // (2 if sym else 1),
                                 differ=diff, max_dv=dv, seconds=dt, dense_seconds=t_dense))
    return rows

def scale_case(n:int, n_cams:int, dim:int, what:str)->dict:
    from uga_fast.graph import build_cvg, cvg_with_lambda, cross_camera_knn
    shard = int(os.environ.get('WORLD_SIZE', 1)) > 1                 # under torchrun (--ranks): the camera pairs split over the ranks
    if shard: import torch.distributed as dist; dist.init_process_group('gloo')
    x, cam = make_nodes(n, n_cams, dim)
    t, cpu = time.perf_counter(), time.process_time()
    if what == 'none': import uga_fast.graph; edges, lam = 0, None   # the baseline: the runtime, the library and the features
    elif what == 'knn': i, j, v = cross_camera_knn(x, cam, k=1, shard=shard); edges, lam = len(i), None
    else:
        W, lam = cvg_with_lambda(x, cam, lam=LAM if what == 'fixed' else 'auto', k=1, q=Q, shard=shard)
        edges = (W._nnz() - n) // 2
    res = dict(seconds=time.perf_counter() - t, cpu=time.process_time() - cpu, edges=edges, lam=lam, feats_mb=x.numel() * 4 / 2**20)
    if shard: dist.destroy_process_group()
    return res

def free_port()->int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def tree(pid:int)->list:
    "`pid` and its descendants"
    try: kids = [int(c) for t in os.listdir(f'/proc/{pid}/task') for c in open(f'/proc/{pid}/task/{t}/children').read().split()]
    except OSError: kids = []
    return [pid] + [q for c in kids for q in tree(c)]

def rss_gb(pid:int)->float:
    try: return int(next(l for l in open(f'/proc/{pid}/status') if l.startswith('VmRSS')).split()[1]) / 2**20
    except (OSError, StopIteration): return 0.

def run(args:list, cap_gb:float, ranks:int=1)->tuple:
    "Run this script with `args` in a fresh process (`ranks` > 1: under torchrun), each process killed past `cap_gb` of resident memory: (result, peak RSS MB, status)"
    launch = [] if ranks == 1 else ['-m', 'torch.distributed.run', '--nproc_per_node', str(ranks), '--master_addr', '127.0.0.1',
                                    '--master_port', str(free_port())]
    p = subprocess.Popen([sys.executable, *launch, __file__, '--case', *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    killed = False
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)        # ru_maxrss: the largest of the process and the children it waited for
        if pid: break
        procs = tree(p.pid)
        if not killed and max(map(rss_gb, procs)) > cap_gb:
            for q in reversed(procs): os.kill(q, 9)
            killed = True
        time.sleep(0.1)
    p.returncode = os.waitstatus_to_exitcode(status)
    out = [l for l in p.stdout.read().splitlines() if l.startswith(('{', '['))]   # under torchrun every rank prints: rank 0's is first
    res = json.loads(out[0]) if p.returncode == 0 and out else None
    return res, ru.ru_maxrss / 1024, 'killed > cap' if killed else ('ok' if p.returncode == 0 else f'exit {p.returncode}')

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help='200k nodes at d=256 only')
    ap.add_argument('--nodes', type=int, default=200_000); ap.add_argument('--cams', type=int, default=100)
    ap.add_argument('--dims', type=int, nargs='+', default=None); ap.add_argument('--cap-gb', type=float, default=8.)
    ap.add_argument('--ranks', type=int, default=1, help='processes (torchrun, gloo) sharing the camera pairs: shard=True')
    ap.add_argument('--agreement-only', action='store_true')
    ap.add_argument('--skip-agreement', action='store_true'); ap.add_argument('--only', nargs='+', default=['none', 'fixed', 'auto', 'knn'])
    ap.add_argument('--case', nargs='+', help=argparse.SUPPRESS)
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))
    if a.case:
        kind, *v = a.case
        res = agreement_case(*map(int, v)) if kind == 'agree' else scale_case(int(v[0]), int(v[1]), int(v[2]), v[3])
        print(json.dumps(res)); return
    print(f"torch {torch.__version__}, {os.environ['OMP_NUM_THREADS']} thread(s), {platform.processor() or platform.machine()}; "
          f"uga_fast from {os.environ.get('UGA_SRC', 'this checkout')}")
    if not a.skip_agreement:
        print("\nAgreement with the dense reference (full N×N cosine matrix), 20,000 nodes, d=1024")
        print(f"{'cameras':>8} {'K':>2} {'symmetric':>9} {'λ':>6} {'λ used':>7} {'|Δλ|':>7} {'edges':>7} {'differ':>6} {'max |Δw|':>9} {'build_cvg s':>11}  peak MB (process)")
        for n_cams in (100, 10):
            rows, peak, st = run(['agree', 20_000, n_cams, 1024], a.cap_gb)
            for r in rows or []:
                print(f"{n_cams:>8} {r['k']:>2} {str(r['symmetric']):>9} {r['lam']:>6} {r['lam_value']:>7.4f} {r['lam_diff']:>7.1e} {r['edges']:>7} {r['differ']:>6} "
                      f"{r['max_dv']:>9.1e} {r['seconds']:>11.2f}  {peak:.0f}", flush=True)
            if rows is None: print(f"{n_cams:>8}  {st}, peak {peak:.0f} MB")
    if a.agreement_only: return
    dims = a.dims or ([256] if a.quick else [256, 1024])
    names = dict(none='(features only)', fixed="build_cvg λ=0.65", auto="build_cvg λ='auto'", knn='cross_camera_knn')
    who = 'one process' if a.ranks == 1 else f'{a.ranks} processes (torchrun, gloo, shard=True; seconds: rank 0, peak: the largest rank)'
    print(f"\n{a.nodes:,} nodes over {a.cams} cameras ({a.nodes // a.cams:,} each), K=1, symmetric; each row {who}, cap {a.cap_gb:g} GB")
    print(f"{'d':>5} {'what':<19} {'seconds':>8} {'CPU s':>7} {'peak MB':>8} {'features MB':>11} {'edges/candidates':>16} {'λ':>7}  status")
    for d in dims:
        for what in a.only:
            r, peak, st = run(['scale', a.nodes, a.cams, d, what], a.cap_gb, a.ranks)
            r = r or dict(seconds=float('nan'), cpu=float('nan'), edges=-1, lam=None, feats_mb=a.nodes * d * 4 / 2**20)
            print(f"{d:>5} {names[what]:<19} {r['seconds']:>8.1f} {r['cpu']:>7.1f} {peak:>8.0f} {r['feats_mb']:>11.0f} {r['edges']:>16,} "
                  f"{'' if r['lam'] is None else format(r['lam'], '.4f'):>7}  {st}", flush=True)

if __name__ == '__main__': main()
