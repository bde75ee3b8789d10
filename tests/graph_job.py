"""The cross-view graph with its camera pairs split over the ranks, for tests/test_distributed.py: `torchrun --nproc_per_node 2 graph_job.py OUT`.

Every rank writes OUT/graph<r>.pth: the graphs and λ of `cvg_with_lambda(..., shard=True)` (K = 1 and 2, symmetric or not, λ fixed
and 'auto') and the candidates of `cross_camera_knn(..., shard=True)`, the camera pairs it compared for them, what
`all_gather_cat` gave for tensors of different lengths, and the same graphs and candidates computed without `shard` (one process's work)."""
import sys, torch, torch.distributed as dist
import uga_fast.graph as graph
from uga_fast.distributed import all_gather_cat

def graphs(feats, cams, shard:bool)->dict:
    "Every variant's graph (indices, values) and λ, and the K=2 candidates"
    out = {}
    for k in (1, 2):
        for sym in (True, False):
            for lam in (0.3, 'auto'):
                W, l = graph.cvg_with_lambda(feats, cams, lam=lam, k=k, symmetric=sym, shard=shard)
                out[k, sym, lam] = (W.indices(), W.values(), l)
    out['knn'] = graph.cross_camera_knn(feats, cams, k=2, shard=shard)
    return out

def main(out):
    own = not dist.is_initialized()                                 # after ddp_job.py in the same processes: its group
    if own: dist.init_process_group('gloo')
    rank = dist.get_rank()
    g = torch.Generator().manual_seed(0)
    feats, cams = torch.randn(600, 32, generator=g), torch.randint(0, 9, (600,), generator=g)
    cams[:3] = 9                                                    # a tenth camera, of three nodes
    seen, pair_knn = [], graph._camera_pair_knn
    graph._camera_pair_knn = lambda x, t, m, *a: seen.append((t, m)) or pair_knn(x, t, m, *a)
    sharded = graphs(feats, cams, shard=True)
    pairs = sorted(set(seen))                                       # the pairs this rank compared
    single = graphs(feats, cams, shard=False)
    all_pairs = sorted(set(seen))                                   # ...and those one process compares: all of them
    gathered = all_gather_cat(torch.arange(3 + 2 * rank, dtype=torch.int32) + 100 * rank)
    torch.save(dict(rank=rank, world=dist.get_world_size(), sharded=sharded, single=single, pairs=pairs,
                    all_pairs=all_pairs, gathered=gathered), f'{out}/graph{rank}.pth')
    if own: dist.destroy_process_group()

if __name__ == '__main__': main(sys.argv[1])
