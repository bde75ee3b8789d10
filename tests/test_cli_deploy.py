"`uga-fast embed`, `search` and `export` on a user's own folders of images, run as a user runs them: the installed console script in a subprocess."
import json, os, re, shutil, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch

EXE = shutil.which('uga-fast', path=str(Path(sys.executable).parent)) or shutil.which('uga-fast')
TINY = dict(arch='resnet10t', head='embed', emb_dim=32, height=32, width=16)
CPU = ['--num-workers', '0', '--device', 'cpu']
WEIGHTS = 'run/models/inter.pth'

def run(*args, cwd, **env):
    env = dict(os.environ, UGA_FAST_HOME=str(Path(cwd)/'home'), MPLBACKEND='Agg', **env)
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=900)

@pytest.fixture(autouse=True)
def _installed():
    if EXE is None: pytest.fail('the uga-fast console script is not installed (pip install -e .)')

@pytest.fixture(scope='module')
def world(tmp_path_factory):
    "What `uga-fast train --out run` leaves (weights of a tiny model, metrics.json with its args), and nested folders of images"
    from PIL import Image
    from uga_fast.model import UGAModel
    d = tmp_path_factory.mktemp('deploy')
    torch.manual_seed(0)
    m = UGAModel([3, 4], arch='resnet10t', pretrained=False, emb_dim=32)
    with torch.no_grad():
        for _ in range(3): m.features(torch.randn(8, 3, 32, 16) * 2 + 0.5)   # BatchNorm statistics away from their initial values
    (d/'run'/'models').mkdir(parents=True)
    torch.save(m.state_dict(), d/WEIGHTS)                                     # what `learn.save(stage, with_opt=False)` writes
    (d/'run'/'metrics.json').write_text(json.dumps(dict(args=dict(data='synthetic', bs=12, **TINY))))
    rng = np.random.default_rng(0)
    for folder, n in {'q/p1': 2, 'q/p2': 1, 'g/p1/a': 3, 'g/p2': 3, 'g': 2, 'g/.cache': 1}.items():
        (d/folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (40 + 3*i, 18 + i, 3), dtype=np.uint8)).save(d/folder/f'{i}.{"png" if i % 2 else "jpg"}')
    (d/'g'/'notes.txt').write_text('not an image')
    return d

def ref_learner(d:Path):
    "A UGALearner with the run's weights, built in this process: the features `learn.embed` gives"
    import pandas as pd
    import uga_fast.metrics
    from uga_fast.data import ReIDData, EVAL_COLS
    from uga_fast.sampler import ReIDDataLoaders
    from uga_fast.learner import UGALearner
    img = str(next((d/'g').glob('*.jpg')))
    tr = pd.DataFrame(dict(path=[img], cam=[0], label=[0], tracklet=[0], pid=[-1]))
    ev = pd.DataFrame({c: pd.Series(dtype=object if c == 'path' else 'int64') for c in EVAL_COLS})
    dls = ReIDDataLoaders.from_reid(ReIDData(tr, ev, ev.copy()), bs=4, size=(32, 16), device='cpu')
    learn = UGALearner(dls, arch='resnet10t', pretrained=False, emb_dim=32)
    state = torch.load(d/WEIGHTS, weights_only=True)
    learn.model.load_state_dict({k: v for k, v in state.items() if not k.startswith('classifier.')}, strict=False)
    return learn

@pytest.fixture(scope='module')
def ref(world):
    learn = ref_learner(world)
    with learn.no_bar(): yield learn

G_PATHS = ['0.jpg', '1.png', 'p1/a/0.jpg', 'p1/a/1.png', 'p1/a/2.jpg', 'p2/0.jpg', 'p2/1.png', 'p2/2.jpg']   # sorted; no .cache/, no notes.txt

def test_embed_pooled_by_folder(world, ref):
    r = run('embed', '--weights', WEIGHTS, '--images', 'g', '--pool-by', 'folder', '--out', 'out/feats.npz', '--bs', '3', *CPU, cwd=world)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'settings from run/metrics.json' in r.stdout and 'wrote out/feats.npz: 8 images × 32 features, 3 folder means' in r.stdout, r.stdout
    z = np.load(world/'out'/'feats.npz')                                   # no pickled objects: allow_pickle stays False
    assert sorted(z) == ['config', 'feats', 'paths', 'tracklet_feats', 'tracklet_names', 'tracklets']
    assert list(z['paths']) == G_PATHS
    assert z['feats'].shape == (8, 32) and z['feats'].dtype == np.float32
    want = ref.embed([world/'g'/p for p in G_PATHS]).numpy()
    np.testing.assert_allclose(z['feats'], want, atol=1e-4, rtol=1e-4)
    assert list(z['tracklet_names']) == ['.', 'p1/a', 'p2'] and list(z['tracklets']) == [0, 0, 1, 1, 1, 2, 2, 2]
    np.testing.assert_allclose(z['tracklet_feats'], np.stack([want[:2].mean(0), want[2:5].mean(0), want[5:].mean(0)]), atol=1e-4, rtol=1e-4)
    assert json.loads(str(z['config'])) == dict(TINY, weights=WEIGHTS)

def test_embed_plain_and_flags_override_the_run(world):
    # --height/--width given: they win over metrics.json (the weights do not depend on the image size)
    r = run('embed', '--weights', WEIGHTS, '--images', 'q', '--height', '48', '--width', '24', '--out', 'out/q.npz', *CPU, cwd=world)
    assert r.returncode == 0, r.stderr[-3000:]
    z = np.load(world/'out'/'q.npz')
    assert sorted(z) == ['config', 'feats', 'paths'] and list(z['paths']) == ['p1/0.jpg', 'p1/1.png', 'p2/0.jpg']
    assert json.loads(str(z['config']))['height'] == 48 and z['feats'].shape == (3, 32)

def test_search_prints_the_ranking_and_saves_the_strips(world, ref):
    r = run('search', '--weights', WEIGHTS, '--query', 'q', '--gallery', 'g', '--top', '3', '--out', 'out/search.png', *CPU, cwd=world)
    assert r.returncode == 0, r.stderr[-3000:]
    qp = ['p1/0.jpg', 'p1/1.png', 'p2/0.jpg']
    blocks = re.findall(r'^query (\S+)\n((?:\s+\d+\s+[\d.]+\s+\S+\n?){3})', r.stdout, re.M)
    assert [b[0] for b in blocks] == qp, r.stdout
    qf, gf = ref.embed([world/'q'/p for p in qp]), ref.embed([world/'g'/p for p in G_PATHS])
    d = 1 - torch.nn.functional.normalize(qf) @ torch.nn.functional.normalize(gf).T
    for i, (_, rows) in enumerate(blocks):
        ranks = [l.split() for l in rows.strip().splitlines()]
        assert [int(x[0]) for x in ranks] == [1, 2, 3]
        dist = [float(x[1]) for x in ranks]
        assert dist == sorted(dist)
        got = [G_PATHS.index(x[2]) for x in ranks]
        np.testing.assert_allclose(dist, d[i, got].numpy(), atol=2e-4)
        assert abs(dist[0] - float(d[i].min())) < 2e-4                       # the best match is first
    png = world/'out'/'search.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 5_000
    assert 'wrote out/search.png: the first 3 queries and their top 3' in r.stdout

def test_export_onnx_matches_pytorch(world, ref):
    from uga_fast.export import run_onnx
    import onnx
    r = run('export', '--weights', WEIGHTS, '--onnx', 'out/model.onnx', cwd=world)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'wrote out/model.onnx: images N×3×32×16' in r.stdout and 'features N×32' in r.stdout, r.stdout
    assert not (world/'out'/'model.onnx.data').exists()
    paths = [str(world/'g'/p) for p in G_PATHS]
    x = ref.dls.test_dl(pd.DataFrame(dict(path=paths)), bs=8).one_batch()[0]   # normalised, as `embed` sees them
    want = ref.embed(paths)
    for n in (8, 3):                                                       # a dynamic batch axis: any batch size
        cos = torch.nn.functional.cosine_similarity(torch.from_numpy(run_onnx(world/'out'/'model.onnx', x[:n])), want[:n], dim=1)
        assert cos.min() > 0.9999, cos
    meta = {p.key: p.value for p in onnx.load(str(world/'out'/'model.onnx')).metadata_props}
    assert (meta['height'], meta['width'], meta['feature_dim']) == ('32', '16', '32')
    # a fixed batch of 2
    r = run('export', '--weights', WEIGHTS, '--onnx', 'out/fixed.onnx', '--dynamic-batch', 'false', cwd=world)
    assert r.returncode == 0 and 'images 2×3×32×16' in r.stdout, r.stderr[-3000:]
    np.testing.assert_allclose(run_onnx(world/'out'/'fixed.onnx', x[:2]), want[:2].numpy(), atol=1e-4, rtol=1e-4)
    with pytest.raises(Exception): run_onnx(world/'out'/'fixed.onnx', x[:3])

def one_sentence(r, msg):
    assert r.returncode != 0 and msg in r.stderr and 'Traceback' not in r.stderr, r.stderr[-3000:]
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr

@pytest.mark.parametrize('args,msg', [
    (['embed', '--weights', 'run/models/nope.pth', '--images', 'g'], "--weights 'run/models/nope.pth': no such file"),
    (['embed', '--weights', WEIGHTS, '--images', 'g', '--arch', 'resnet18'],
     "--weights run/models/inter.pth: does not fit --arch resnet18 --head embed --emb-dim 32 (the settings not given as flags are run/metrics.json's)"),
    (['search', '--weights', WEIGHTS, '--query', 'q', '--gallery', 'g', '--emb-dim', '64'], "does not fit --arch resnet10t --head embed --emb-dim 64"),
    (['export', '--weights', WEIGHTS, '--head', 'bn'], "does not fit --arch resnet10t --head bn --emb-dim 32"),
    (['embed', '--weights', WEIGHTS, '--images', 'nowhere'], "--images 'nowhere': no such folder"),
    (['search', '--weights', WEIGHTS, '--query', 'q', '--gallery', 'run'], "--gallery run: no image files in it or its subfolders"),
    (['embed', '--weights', WEIGHTS, '--images', 'g', '--pool-by', 'camera'], "--pool-by 'camera': expected 'none' or 'folder'"),
    (['embed', '--weights', 'run/metrics.json', '--images', 'g'], "--weights run/metrics.json: not a weights file of `uga-fast train`"),
])
def test_mistakes_are_one_sentence(world, args, msg):
    one_sentence(run(*args, *(CPU if args[0] != 'export' else []), cwd=world), msg)

def test_export_without_the_extra(world, tmp_path):
    "onnxscript hidden (a package of that name that fails to import, first on the path): the extra is named, nothing is written"
    (tmp_path/'onnxscript').mkdir()
    (tmp_path/'onnxscript'/'__init__.py').write_text('raise ModuleNotFoundError("No module named \'onnxscript\'", name="onnxscript")\n')
    r = run('export', '--weights', WEIGHTS, '--onnx', 'out/missing.onnx', cwd=world, PYTHONPATH=str(tmp_path))
    one_sentence(r, 'uga-fast export: ONNX export needs onnxscript (not installed): pip install "uga_fast[export]"')
    assert not (world/'out'/'missing.onnx').exists()

def test_help_is_there_without_the_extra(tmp_path):
    (tmp_path/'onnx').mkdir()
    (tmp_path/'onnx'/'__init__.py').write_text('raise ModuleNotFoundError("No module named \'onnx\'", name="onnx")\n')
    for cmd in ('embed', 'search', 'export'):
        r = run(cmd, '--help', cwd=tmp_path, PYTHONPATH=str(tmp_path))
        assert r.returncode == 0 and '--weights' in r.stdout and "metrics.json" in r.stdout, r.stderr[-2000:]
