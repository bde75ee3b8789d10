"""`uga-fast embed`, `search` and `export` on a user's own folders of images, as a user runs them.

The commands run in this process (the `run` fixture: conftest.py's `run_main`, with the environment, working folder, exit status and
output the console script would have), since a fresh interpreter importing torch and fastai costs seconds a run; a PYTHONPATH given
to `run` shadows packages as it would for a new interpreter (`test_export_without_the_extra`).
One test starts the installed console script in a subprocess (`run_exe`): `test_help_is_there_without_the_extra`, as `--help` must
answer from the entry point without importing the library or onnx (cheap: no torch in those processes).
"""
import json, os, re, shutil, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch

EXE = shutil.which('uga-fast', path=str(Path(sys.executable).parent)) or shutil.which('uga-fast')
TINY = dict(arch='resnet10t', head='embed', emb_dim=32, height=32, width=16)
CPU = ['--num-workers', '0', '--device', 'cpu']
WEIGHTS = 'run/models/inter.pth'

def run_exe(*args, cwd, **env):
    "The installed `uga-fast args` in a subprocess, in folder `cwd`"
    if EXE is None: pytest.fail('the uga-fast console script is not installed (pip install -e .)')
    env = dict(os.environ, UGA_FAST_HOME=str(Path(cwd)/'home'), MPLBACKEND='Agg', **env)
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=900)

@pytest.fixture
def run(uga_cli):
    "`uga-fast args` in folder `cwd`, run in this process (conftest.py's `run_main`): what `run_exe` gives, without a new interpreter"
    return uga_cli

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

def test_embed_pooled_by_folder(world, ref, run):
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

def test_embed_plain_and_flags_override_the_run(world, run):
    # --height/--width given: they win over metrics.json (the weights do not depend on the image size)
    r = run('embed', '--weights', WEIGHTS, '--images', 'q', '--height', '48', '--width', '24', '--out', 'out/q.npz', *CPU, cwd=world)
    assert r.returncode == 0, r.stderr[-3000:]
    z = np.load(world/'out'/'q.npz')
    assert sorted(z) == ['config', 'feats', 'paths'] and list(z['paths']) == ['p1/0.jpg', 'p1/1.png', 'p2/0.jpg']
    assert json.loads(str(z['config']))['height'] == 48 and z['feats'].shape == (3, 32)

def test_search_prints_the_ranking_and_saves_the_strips(world, ref, run):
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

def test_export_onnx_matches_pytorch(world, ref, run):
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
    # a fixed batch of 1 (the static graph trackers load)
    r = run('export', '--weights', WEIGHTS, '--onnx', 'out/fixed.onnx', '--dynamic-batch', 'false', cwd=world)
    assert r.returncode == 0 and 'images 1×3×32×16' in r.stdout, r.stderr[-3000:]
    np.testing.assert_allclose(run_onnx(world/'out'/'fixed.onnx', x[:1]), want[:1].numpy(), atol=1e-4, rtol=1e-4)
    with pytest.raises(Exception): run_onnx(world/'out'/'fixed.onnx', x[:2])
    # height and width as axes too: crops of another size run, as PyTorch runs them
    from uga_fast.export import FeatureExtractor
    r = run('export', '--weights', WEIGHTS, '--onnx', 'out/any.onnx', '--dynamic-size', 'true', cwd=world)
    assert r.returncode == 0 and 'images N×3×H×W → features N×32 (dynamic axes: batch, height, width; meant for 32×16 images)' in r.stdout, r.stdout + r.stderr[-3000:]
    with torch.no_grad():
        for shape in ((1, 3, 32, 16), (5, 3, 64, 32), (2, 3, 50, 30)):
            xs = torch.randn(*shape)
            np.testing.assert_allclose(run_onnx(world/'out'/'any.onnx', xs), FeatureExtractor(ref.model.eval())(xs).numpy(), atol=1e-4, rtol=1e-4)

def one_sentence(r, msg):
    assert r.returncode != 0 and msg in r.stderr and 'Traceback' not in r.stderr, r.stderr[-3000:]
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr

@pytest.mark.parametrize('args,msg', [
    (['embed', '--weights', 'run/models/nope.pth', '--images', 'g'], "--weights 'run/models/nope.pth': no such file"),
    (['embed', '--weights', WEIGHTS, '--images', 'g', '--arch', 'resnet18'],
     "--weights run/models/inter.pth: does not fit --arch resnet18 --head embed --emb-dim 32 (the settings not given as flags are run/metrics.json's)"),
    (['search', '--weights', WEIGHTS, '--query', 'q', '--gallery', 'g', '--emb-dim', '64'], "does not fit --arch resnet10t --head embed --emb-dim 64"),
    (['export', '--weights', WEIGHTS, '--head', 'bn'], "does not fit --arch resnet10t --head bn --emb-dim 32"),
    (['embed', '--weights', WEIGHTS, '--images', 'nowhere'], "--images 'nowhere': no such file or folder"),
    (['search', '--weights', WEIGHTS, '--query', 'q', '--gallery', 'run'], "--gallery run: no image files in it or its subfolders"),
    (['embed', '--weights', WEIGHTS, '--images', 'g', '--pool-by', 'camera'], "--pool-by 'camera': expected 'none' or 'folder'"),
    (['embed', '--weights', 'run/metrics.json', '--images', 'g'], "--weights run/metrics.json: not a weights file of `uga-fast train`"),
])
def test_mistakes_are_one_sentence(world, args, msg, run):
    one_sentence(run(*args, *(CPU if args[0] != 'export' else []), cwd=world), msg)

def test_export_without_the_extra(world, tmp_path, run):
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
        r = run_exe(cmd, '--help', cwd=tmp_path, PYTHONPATH=str(tmp_path))
        assert r.returncode == 0 and '--weights' in r.stdout and "metrics.json" in r.stdout, r.stderr[-2000:]

# ---- what a user's inputs and outputs meet (issue 24): in this process, for speed; `main` is what the console script calls

@pytest.fixture
def cli(world, monkeypatch, process_kept):
    "`main` run in `world`, the process put back afterwards (conftest.py's `process_kept`: off a terminal `main` swaps the bars for lines, ...)"
    from uga_fast.cli import main
    monkeypatch.chdir(world); monkeypatch.setenv('UGA_FAST_HOME', str(world/'home'))
    return main

def refused(main, argv, msg):
    "`main(argv)` exits with one line holding `msg`, before any output is written"
    with pytest.raises(SystemExit) as e: main([*argv, *(CPU if argv[0] != 'export' else [])])
    assert msg in str(e.value.code), e.value.code

def test_no_command_is_usage_on_stderr_exit_2(cli, capsys):
    assert cli([]) == 2
    err = capsys.readouterr().err
    assert err.startswith('usage: uga-fast COMMAND') and 'search' in err

def test_version(cli, capsys):
    from uga_fast import __version__
    assert cli(['--version']) == 0 and capsys.readouterr().out.strip() == f'uga-fast {__version__}'

@pytest.mark.parametrize('argv,missing', [(['embed', '--images', 'g'], '--weights'), (['search', '--weights', WEIGHTS, '--query', 'q'], '--gallery'),
                                          (['export'], '--weights'), (['eval', '--weights', WEIGHTS], '--data')])
def test_required_options_say_so(cli, capsys, argv, missing):
    with pytest.raises(SystemExit) as e: cli(argv)
    assert e.value.code == 2 and f'the following arguments are required: {missing}' in capsys.readouterr().err

def test_empty_weights_file(cli, world):
    (world/'empty.pth').write_bytes(b'')
    refused(cli, ['embed', '--weights', 'empty.pth', '--images', 'g', '--out', 'out/e.npz'], '--weights empty.pth: the file is empty (0 bytes)')

@pytest.mark.parametrize('argv,msg', [
    (['export', '--weights', WEIGHTS, '--onnx', WEIGHTS], f'--onnx {WEIGHTS}: expected a file name ending in .onnx'),
    (['embed', '--weights', WEIGHTS, '--images', 'g', '--out', WEIGHTS], f'--out {WEIGHTS}: expected a file name ending in .npz'),
    (['search', '--weights', WEIGHTS, '--query', 'q', '--gallery', 'g', '--out', 'g/p2/1.png'], "--out g/p2/1.png: is one of this command's inputs"),
    (['search', '--weights', WEIGHTS, '--query', 'q', '--gallery', 'g', '--out', 's.txt'], '--out s.txt: expected a file name ending in .'),
    (['eval', '--data', 'synthetic', '--weights', WEIGHTS, '--out', 'm.csv'], '--out m.csv: expected a file name ending in .json'),
])
def test_outputs_are_checked_before_the_work_and_inputs_never_overwritten(cli, world, argv, msg):
    before = {p: p.read_bytes() for p in (world/WEIGHTS, world/'g'/'p2'/'1.png')}
    refused(cli, argv, msg)
    assert all(p.read_bytes() == b for p, b in before.items())

def test_an_output_folder_that_may_not_be_written(cli, monkeypatch):
    real = os.access        # this suite may run as root, whom permissions do not stop: the folder says no through os.access
    monkeypatch.setattr(os, 'access', lambda p, m, *a, **k: False if Path(p).name == 'locked' else real(p, m, *a, **k))
    refused(cli, ['embed', '--weights', WEIGHTS, '--images', 'g', '--out', 'locked/f.npz'], "the folder 'locked' is not writable")

def test_a_permission_error_is_one_line(cli, monkeypatch, world):
    import uga_fast.cli as c
    def denied(*a): raise PermissionError(13, 'Permission denied', str(world/'home'/'mot_crops'/'x'))   # as the crop cache meets it
    monkeypatch.setattr(c, '_images_under', denied)
    refused(cli, ['embed', '--weights', WEIGHTS, '--images', 'g'], "permission denied: '")
    with pytest.raises(SystemExit) as e: cli(['embed', '--weights', WEIGHTS, '--images', 'g'])
    assert 'set UGA_FAST_HOME to a folder you may write' in e.value.code and 'Traceback' not in e.value.code

def test_replacing_an_earlier_output_is_said(cli, capsys):
    for _ in range(2): assert cli(['embed', '--weights', WEIGHTS, '--images', 'q', '--out', 'out/again.npz', *CPU]) == 0
    out = capsys.readouterr().out
    assert out.count('note: --out out/again.npz exists; it is replaced') == 1
    assert not list(Path('out').glob('.again*'))                      # written beside it, then moved: no stray temporary

def test_search_one_image_leaves_itself_out(cli, capsys):
    assert cli(['search', '--weights', WEIGHTS, '--query', 'g/p2/1.png', '--gallery', 'g', '--top', '20', '--show', '0', *CPU]) == 0
    ranked = [l.split()[-1] for l in capsys.readouterr().out.splitlines() if re.match(r'\s+\d+\s', l)]
    assert sorted(ranked) == sorted(set(G_PATHS) - {'p2/1.png'})      # every other gallery image, not the query itself
    assert cli(['search', '--weights', WEIGHTS, '--query', 'g/p2/1.png', '--gallery', 'g', '--top', '1', '--show', '0', '--keep-self', *CPU]) == 0
    first = [l.split() for l in capsys.readouterr().out.splitlines() if re.match(r'\s+1\s', l)][0]
    assert first[2] == 'p2/1.png' and float(first[1]) < 1e-4           # kept: the same file, at distance 0

def test_strip_labels_hold_the_whole_name():
    from uga_fast.cli import _wrap
    assert _wrap('c1_000008/000003.png') == 'c1_000008/\n000003.png'
    assert _wrap('a_very_long_folder_name_x/sub/0.png').replace('\n', '') == 'a_very_long_folder_name_x/sub/0.png'
    assert max(map(len, _wrap('a_very_long_folder_name_x/sub/0.png').splitlines())) <= 16
