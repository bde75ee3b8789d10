"`load_reid('mot', …)` beyond the notebook: a read-only root, and training on tracklets without query/gallery"
import os
from pathlib import Path
import pytest
from uga_fast.synthetic import write_mot_scene
from uga_fast.datasets import load_reid, read_mot

OFF = dict(min_len=1, min_height=0, min_conf=None, max_frames=None)

@pytest.fixture(scope='module')
def scene(tmp_path_factory):
    root = tmp_path_factory.mktemp('mot')/'scene'
    return root, write_mot_scene(root)

def test_read_only_root_caches_under_uga_home(scene, tmp_path, monkeypatch):
    root, boxes = scene
    home = tmp_path/'home'; monkeypatch.setenv('UGA_FAST_HOME', str(home))
    real = os.access
    monkeypatch.setattr(os, 'access', lambda p, m, *a, **k: False if Path(p) == root and m == os.W_OK else real(p, m, *a, **k))
    d = load_reid('mot', root, **OFF)
    assert all(Path(p).is_relative_to(home/'mot_crops') for p in d.train.path)
    assert len(d.train) == len(boxes)
    assert not (root/'.uga_crops').exists() or not any((root/'.uga_crops').iterdir())

def test_trains_without_query_gallery_and_evaluate_says_so(scene):
    from uga_fast.sampler import ReIDDataLoaders
    from uga_fast.learner import UGALearner
    import uga_fast.metrics, fastai.callback.progress
    data = read_mot(scene[0], min_height=20)
    assert data.query.empty and 'no query/gallery: nothing to evaluate on' in data.summary()
    dls = ReIDDataLoaders.from_reid(data, bs=12, size=(32, 16), device='cpu')
    learn = UGALearner(dls, arch='resnet10t', pretrained=False, emb_dim=32, seed=0)
    with learn.no_bar(), learn.no_logging(): learn.fit_intra(1, lr=1e-3)
    with pytest.raises(ValueError, match='mot: no query/gallery to evaluate on'): learn.evaluate()
