"DDP with 2 processes on the CPU (gloo): camera-balanced shards, the same graph on both ranks, and the graph of one process"
import os, socket, subprocess, sys
from pathlib import Path
import pytest, torch

JOB = Path(__file__).with_name('ddp_job.py')

def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.fixture(scope='module')
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp('ddp')
    env = dict(os.environ, MPLBACKEND='Agg', PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
           '--master_port', str(free_port()), str(JOB), str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=out)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    return [torch.load(out/f'rank{i}.pth', weights_only=True) for i in (0, 1)]

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
