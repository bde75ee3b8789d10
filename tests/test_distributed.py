"DDP with 2 processes on the CPU (gloo): camera-balanced shards, the same graph on both ranks, and the graph of one process; the graph's camera pairs split over the ranks"
import os, socket, subprocess, sys
from pathlib import Path
import pytest, torch

JOB = Path(__file__).with_name('ddp_job.py')   # and, with the argument 'graph', graph_job.py after it

def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def torchrun(out:Path, *args)->None:
    "Run `ddp_job.py OUT *args` in 2 processes (torchrun, gloo, one thread each)"
    env = dict(os.environ, MPLBACKEND='Agg', PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
           '--master_port', str(free_port()), str(JOB), str(out), *args]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=out)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]

@pytest.fixture(scope='module')
def jobs(tmp_path_factory)->Path:
    "Both jobs, ddp_job.py then graph_job.py, in one torchrun: each rank saved OUT/rank<r>.pth and OUT/graph<r>.pth"
    out = tmp_path_factory.mktemp('ddp'); torchrun(out, 'graph'); return out

def saved(out:Path, name:str)->list: return [torch.load(out/f'{name}{i}.pth', weights_only=False) for i in (0, 1)]

@pytest.fixture(scope='module')
def ranks(jobs): return saved(jobs, 'rank')

@pytest.fixture(scope='module')
def graph_ranks(jobs): return saved(jobs, 'graph')

def test_two_ranks(ranks):
    a, b = ranks
    assert (a['rank'], b['rank'], a['world']) == (0, 1, 2)

def test_camera_balanced_shards(ranks):
    a, b = ranks
    cams = a['cam']
    n_per_cam = 12 // 3
    for r in ranks:
        assert r['n_batches'] == 2 * (len(r['targets']) // 2) and r['n_batches'] > 0
        for t in r['targets']:                                   # every batch of every rank: 4 images of each camera
            assert torch.bincount(cams[t], minlength=3).tolist() == [n_per_cam] * 3
    assert a['n_batches'] == b['n_batches']
    assert not torch.equal(a['targets'], b['targets'])          # the ranks train on different batches

def test_same_weights_and_graph_on_both_ranks(ranks):
    a, b = ranks
    for k in a['final']: assert torch.equal(a['final'][k], b['final'][k]), k
    (ia, va, sa), (ib, vb, sb) = a['graph'], b['graph']
    assert sa == sb and torch.equal(ia, ib) and torch.equal(va, vb)
    assert a['history'] == b['history']
    assert a['history']['edges'][0] > 0

def test_same_graph_as_one_process(ranks):
    "The first graph of the inter stage, built by one process from the same starting weights: same edges, same weights"
    from uga_fast.datasets import load_reid
    from uga_fast.sampler import ReIDDataLoaders
    from uga_fast.model import UGAModel
    from uga_fast.callbacks import tracklet_centroids
    from uga_fast.graph import build_cvg, centre_cameras
    data = load_reid('synthetic', n_ids=12, n_test_ids=4, n_cams=3, seed=0)
    dls = ReIDDataLoaders.from_reid(data, bs=12, size=(32, 16), pad=2, device='cpu')
    model = UGAModel(dls.n_tracklets, arch='resnet10t', pretrained=False, emb_dim=32)
    model.load_state_dict(ranks[0]['start'])
    c = tracklet_centroids(model, dls.train_eval_dl, data.train.tracklet.to_numpy(), n=len(dls.node_cam))
    W = build_cvg(centre_cameras(c, dls.node_cam), dls.node_cam, lam=0.2).coalesce()   # the default graph: centroids, camera-centred
    idx, val, size = ranks[0]['graph']
    assert list(W.shape) == size
    assert torch.equal(W.indices(), idx)
    torch.testing.assert_close(W.values(), val, rtol=0, atol=1e-5)   # centroids summed in another order across ranks

def test_graph_camera_pairs_split_over_ranks(graph_ranks):
    "build_cvg/cross_camera_knn(shard=True): each rank compares its own camera pairs, about half the work, and all of them together once"
    a, b = graph_ranks
    assert (a['rank'], b['rank'], a['world']) == (0, 1, 2)
    assert a['all_pairs'] == b['all_pairs'] and len(a['all_pairs']) == 10 * 9 // 2
    assert not set(a['pairs']) & set(b['pairs']) and sorted(a['pairs'] + b['pairs']) == a['all_pairs']
    work = [sum((t1 - t0) * (m1 - m0) for (t0, t1), (m0, m1) in r['pairs']) for r in graph_ranks]
    assert abs(work[0] - work[1]) < 0.1 * sum(work), work            # split by the similarities each pair computes

def test_sharded_graph_is_the_graph_of_one_process(graph_ranks):
    "Every rank gets the whole graph, the one one process builds: same edges, same weights (bit for bit), same λ; the candidates in the same order"
    a, b = graph_ranks
    assert a['sharded'].keys() == a['single'].keys()
    for key, one in a['single'].items():
        for r in graph_ranks:
            for x, y in zip(r['sharded'][key], one): assert torch.equal(x, y) if torch.is_tensor(x) else x == y, (r['rank'], key)
    assert a['single'][(1, True, 0.3)][0].shape[1] > 600               # there are cross-camera edges to compare

def test_all_gather_cat(graph_ranks):
    "Tensors of different lengths, concatenated in rank order on every rank, dtype kept"
    for r in graph_ranks: assert r['gathered'].tolist() == [0, 1, 2, 100, 101, 102, 103, 104] and r['gathered'].dtype == torch.int32
