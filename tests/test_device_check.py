"Issue 16, the GPU step: `benchmarks/device_check.sh --smoke` runs end to end, and no per-batch host transfer comes from uga_fast's code"
import re, subprocess, sys, tempfile, warnings
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'benchmarks'))
import device_check as dc

ROWS = ['train fp32', 'train amp-bf16', 'train amp-bf16+cl', 'train amp-bf16+cl+cudnn-bm', 'train amp-bf16+cl+compile', 'loader', 'evaluate_features', 'build_cvg',
        'two-stage run', 'uga host syncs/train step']

def test_smoke_prints_every_row():
    r = subprocess.run(['bash', str(ROOT/'benchmarks'/'device_check.sh'), '--smoke'], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert 'device: cpu (smoke)' in r.stdout
    table = r.stdout.split('in all\n')[-1]                       # the final table
    for name in ROWS:
        m = re.search(rf'^{re.escape(name)}\s+(\S+) ', table, re.M)
        assert m, f"row {name!r} missing:\n{table}"
        assert np.isfinite(float(m.group(1))), f"row {name!r}: {m.group(0)!r}"
    assert re.search(r'^two-stage run .* ok: ', table, re.M), table

# fastai's own per-batch host calls (recorded, not ours): the Recorder's `to_detach(...).cpu()` of the smoothed loss
# (AvgSmoothLoss) and of each validation metric (AvgMetric, AvgLoss); `_maybe_item` reads them after each epoch.
# Ours, allowed: `LossAsFloat.after_batch` turns the Recorder's loss, already a CPU tensor (fastai's to_detach), into a float.
ALLOWED = {('callbacks.py', 'after_batch')}

def _tiny_learner():
    from uga_fast.datasets import load_reid
    from uga_fast.sampler import ReIDDataLoaders
    from uga_fast.learner import UGALearner
    data = load_reid('synthetic', n_ids=12, n_test_ids=4, n_cams=3, seed=0)
    dls = ReIDDataLoaders.from_reid(data, bs=12, size=(32, 16), device='cpu', seed=0)
    return dc.quiet(UGALearner(dls, arch='resnet10t', pretrained=False, emb_dim=32, seed=0, path=tempfile.mkdtemp()))

def test_no_host_transfer_per_batch_from_uga():
    learn = _tiny_learner()
    with dc.record_host_calls() as calls, warnings.catch_warnings():
        warnings.simplefilter('ignore')
        learn.fit_intra(1, lr=1e-3)                               # with its checkpoint: between epochs, allowed
        learn.fit_inter(1, lr=1e-3, lam=0.3)                      # the swap and the graph: before the epoch, allowed
        n_steps = dc._Batch.n_train
    assert n_steps == 2*len(learn.dls.train) and learn.cvg is not None
    assert calls and any(not c['uga'] for c in calls), "the recorder saw none of fastai's own calls: it is not recording"
    ours = [c for c in calls if c['uga']]
    where = lambda c: (c['uga'][-1].split(':')[0], c['uga'][-1].split(' ')[-1])
    bad = [c for c in ours if where(c) not in ALLOWED]
    assert not bad, '\n'.join(f"{c['method']} ({'train' if c['training'] else 'valid'}) from {' > '.join(c['uga'])}" for c in bad[:20])
    allowed = [c for c in ours if where(c) in ALLOWED]
    assert all(c['method'] == 'item' and c['device'] == 'cpu' and c['training'] for c in allowed)
    assert len(allowed) == n_steps      # LossAsFloat, once a training batch, on fastai's CPU copy: the recorder does see uga_fast's frames
