"""The `uga-fast` command line, as a user runs it.

Most tests call `uga_fast.cli.main` in this process (the `run` fixture: `run_main` of conftest.py, with the environment, working
folder, exit status and output the console script would have): a fresh interpreter importing torch and fastai costs seconds a run.
These start the installed console script in a subprocess (`run_exe`), because they test what only a real process shows:
- `test_help_lists_commands`, `test_every_command_documents_every_option`: the entry point itself, and that `--help` answers
  without importing the library (cheap: no torch in those processes);
- `test_train_and_eval_on_a_miniature_market1501_tree`: one end-to-end `train` from the installed script (the `eval` of its weights
  and the `--resume` runs that follow are in this process: they read what the finished process wrote).
The second writer's lock needs no second process (a lock file held here refuses `main` here just as it refuses another process),
nor does the truncated image read by a DataLoader worker (the workers are processes forked from this one either way).
Data: the tests that only need something to load use `tiny_folder` (conftest.py: 12 ids, 3 cameras, 32×16, written once a module);
`test_a_second_writer_to_the_same_out_is_refused` still loads the default `--data synthetic` world.
"""
import os, re, shutil, subprocess, sys
from pathlib import Path
import pytest

EXE = shutil.which('uga-fast', path=str(Path(sys.executable).parent)) or shutil.which('uga-fast')

def run_exe(*args, tmp_path):
    "The installed `uga-fast args` in a subprocess, in `tmp_path`"
    if EXE is None: pytest.fail('the uga-fast console script is not installed (pip install -e .)')
    env = dict(os.environ, UGA_FAST_HOME=str(tmp_path/'home'), MPLBACKEND='Agg')
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=1800)

pytestmark = pytest.mark.usefixtures('process_kept')   # the tests that call `main` themselves (`cli_fails`) leave the process as it was

@pytest.fixture
def run(uga_cli):
    "`uga-fast args` in `tmp_path`, run in this process (conftest.py's `run_main`): what `run_exe` gives, without a new interpreter"
    return lambda *args, tmp_path: uga_cli(*args, cwd=tmp_path)

def test_help_lists_commands(tmp_path):
    r = run_exe('--help', tmp_path=tmp_path)
    assert r.returncode == 0 and all(c in r.stdout for c in ('demo', 'train', 'eval')), r.stdout + r.stderr

def test_every_command_documents_every_option(tmp_path):
    import inspect
    from uga_fast.cli import COMMANDS
    for name, f in COMMANDS.items():
        r = run_exe(name, '--help', tmp_path=tmp_path)
        assert r.returncode == 0, r.stderr
        for p in inspect.signature(f).parameters: assert p.replace('_', '-') in r.stdout, (name, p)
        if name == 'train':                                                # --data names every reader
            from uga_fast.datasets import READERS
            data = ' '.join(re.search(r'--data \(str\)(.*?)--root', r.stdout.split('options:')[1], re.S).group(1).split())
            assert all(k in data for k in READERS), data

TINY = ['--arch', 'resnet10t', '--emb-dim', '32', '--bs', '12', '--height', '32', '--width', '16', '--num-workers', '0', '--device', 'cpu']

def test_train_and_eval_on_a_miniature_market1501_tree(tmp_path, run):
    "`train` from the installed script (a subprocess); then `eval` of its weights and `--resume` over the finished run, in this process"
    import json
    from uga_fast.test_utils import make_mini
    make_mini('market1501', tmp_path/'data')
    r = run_exe('train', '--data', 'market1501', '--root', 'data', '--pretrained', 'none', *TINY, '--intra-epochs', '1',
            '--inter-epochs', '1', '--lam', '0.3', '--trim', '1', '--out', 'run', tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert '\r' not in r.stdout and re.search(r'^intra\s+\d+\.\d\s+\d+\.\d\s', r.stdout, re.M), r.stdout[-3000:]   # a log: lines, a table
    m = json.loads((tmp_path/'run'/'metrics.json').read_text())
    assert m['args']['data'] == 'market1501' and set(m) == {'args', 'intra', 'inter'} and m['args']['trim'] == 1.0
    import pandas as pd
    assert (pd.read_csv(tmp_path/'run'/'cvg.csv').left_out > 0).all()   # --trim 1: about half of the frames are out of the inter stage
    assert 0 <= m['inter']['mAP'] <= 100
    r = run('eval', '--data', 'market1501', '--root', 'data', *TINY, '--weights', 'run/models/inter.pth', '--out', 'eval.json', tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert abs(json.loads((tmp_path/'eval.json').read_text())['mAP'] - m['inter']['mAP']) < 1e-3
    # --resume over the finished run: both stages load their last checkpoint and train nothing
    args = ['train', '--data', 'market1501', '--root', 'data', '--pretrained', 'none', *TINY, '--inter-epochs', '1', '--lam', '0.3', '--trim', '1', '--out', 'run', '--resume']
    r = run(*args, '--intra-epochs', '1', tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count('1 of 1 epochs done (finished)') == 2, r.stdout[-2000:]
    assert json.loads((tmp_path/'run'/'metrics.json').read_text())['inter'] == m['inter']
    # resuming with other settings is refused, naming the difference
    r = run(*args, '--intra-epochs', '2', tmp_path=tmp_path)
    assert r.returncode != 0 and 'n_epoch: checkpoint 1, now 2' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]

def test_train_fails_clearly_without_root(tmp_path, run):
    r = run('train', '--data', 'market1501', *TINY, tmp_path=tmp_path)
    assert r.returncode != 0 and 'needs `root`' in r.stderr, r.stderr[-2000:]

def test_demo_writes_summary_and_batch_grid(tmp_path, run):
    r = run('demo', '--n-ids', '10', '--n-test-ids', '4', '--n-cams', '3', '--bs', '9', '--intra-epochs', '0', '--out', 'out', tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'synthetic: ' in r.stdout and '3 cameras' in r.stdout
    png = tmp_path/'out'/'batch.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 10_000
    assert (tmp_path/'home'/'synthetic').is_dir()      # the data was drawn into UGA_FAST_HOME

def test_unknown_command_fails_clearly(tmp_path, run):
    r = run('fly', tmp_path=tmp_path)
    assert r.returncode != 0 and "unknown command 'fly'" in r.stderr

def _process_state()->dict:
    "What a command run in this process could leave changed for the tests after it"
    import random, warnings, matplotlib, numpy as np, torch
    from fastai.learner import defaults
    return dict(cwd=os.getcwd(), env=dict(os.environ), path=list(sys.path), callbacks=list(defaults.callbacks), filters=list(warnings.filters),
                showwarning=warnings.showwarning, backend=matplotlib.rcParams._get_backend_or_none(), threads=torch.get_num_threads(),
                cudnn=(torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark), rng=(random.getstate(), np.random.get_state()[1].tolist(),
                torch.get_rng_state().tolist()), deterministic=torch.are_deterministic_algorithms_enabled(), dtype=torch.get_default_dtype())

def test_the_in_process_runner_leaves_the_process_as_it_was(tmp_path, run, tiny_folder):
    "`train` (seeds, matplotlib.use, lines for bars), `demo` (reproducible cuDNN, its data in UGA_FAST_HOME) and a refusal leave nothing changed here"
    import uga_fast.core                                               # fastai's callbacks registered, as before any run
    before = _process_state()
    (tmp_path/'f').write_text('not a folder')
    assert run('train', '--data', 'folder', '--root', tiny_folder, '--pretrained', 'none', *TINY, '--out', 'f', tmp_path=tmp_path).returncode == 1
    assert run('demo', '--n-ids', '4', '--n-test-ids', '2', '--n-cams', '2', '--bs', '4', '--intra-epochs', '0', '--out', 'out', tmp_path=tmp_path).returncode == 0
    r = run('--version', tmp_path=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith('uga-fast ') and r.stderr == ''
    assert _process_state() == before
    assert (tmp_path/'home'/'synthetic').is_dir()                     # the demo's data went where the run's UGA_FAST_HOME said

def test_demo_both_stages_writes_the_report(tmp_path, run):
    r = run('demo', '--n-ids', '10', '--n-test-ids', '4', '--n-cams', '3', '--bs', '9', '--height', '32', '--width', '16',
            '--arch', 'resnet10t', '--pretrained', 'none', '--intra-epochs', '1', '--inter-epochs', '1', '--out', 'out',
            tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert '\r' not in r.stdout and len(re.findall(r'^0\s+\d+\.\d{6}\s', r.stdout, re.M)) == 2, r.stdout[-3000:]   # off a terminal: a line per epoch
    assert 'Cross-camera retrieval' in r.stdout and 'The cross-view graph at its first and last rebuild' in r.stdout
    out = tmp_path/'out'
    for f in ('report.md', 'results.csv', 'loss_intra.png', 'loss_inter.png', 'cvg_lambda.png', 'cvg_null.png', 'cvg_rebuilds.png', 'retrieval.png'):
        assert (out/f).is_file() and (out/f).stat().st_size > 0, f
    rep = (out/'report.md').read_text()
    assert '## Cross-camera retrieval' in rep and '![retrieval](retrieval.png)' in rep

def _table(stdout):
    "The results table the demo prints"
    return stdout[stdout.index('Cross-camera retrieval'):stdout.index('The cross-view graph at its first and last rebuild')]

def test_demo_first_run_and_cached_run_print_the_same_table(tmp_path, run, monkeypatch):
    # the first run draws the data and trains the offline stand-in weights; the second reads both from the cache
    import functools, uga_fast.demo
    monkeypatch.setattr(uga_fast.demo, 'synthetic_weights', functools.partial(uga_fast.demo.synthetic_weights, epochs=1, n_ids=12, n_cams=3))   # a small pretraining, its own cache name
    args = ('demo', '--n-ids', '10', '--n-test-ids', '4', '--n-cams', '3', '--bs', '9', '--height', '32', '--width', '16',
            '--intra-epochs', '1', '--inter-epochs', '1', '--no-bars')
    first = run(*args, '--out', 'first', tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    weights = list((tmp_path/'home'/'weights').glob('*.pth'))
    assert len(weights) == 1, weights
    stamp = weights[0].stat().st_mtime_ns
    cached = run(*args, '--out', 'cached', tmp_path=tmp_path)
    assert cached.returncode == 0, cached.stderr[-3000:]
    assert weights[0].stat().st_mtime_ns == stamp                     # read from the cache, not trained again
    assert _table(first.stdout) == _table(cached.stdout), (first.stdout, cached.stdout)

def test_a_second_writer_to_the_same_out_is_refused(tmp_path, run):
    "While one `train` holds --out (its lock file), a second one exits naming the folder, and writes nothing there"
    from filelock import FileLock
    (tmp_path/'run').mkdir()
    with FileLock(tmp_path/'run'/'.uga-fast.lock'):                    # what a running `uga-fast train --out run` holds
        r = run('train', '--data', 'synthetic', '--pretrained', 'none', *TINY, '--intra-epochs', '1', '--inter-epochs', '0',
                '--out', 'run', tmp_path=tmp_path)
    assert r.returncode != 0 and "--out run: another `uga-fast train` is writing there" in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path/'run').iterdir()) == ['.uga-fast.lock']

@pytest.mark.parametrize('out,msg', [('f', '--out f: is a file; expected a folder'), ('f/run', "--out f/run: lies below the file 'f'")])
def test_out_that_is_a_file(tmp_path, run, tiny_folder, out, msg):
    (tmp_path/'f').write_text('not a folder')
    r = run('train', '--data', 'folder', '--root', tiny_folder, '--pretrained', 'none', *TINY, '--out', out, tmp_path=tmp_path)
    assert r.returncode != 0 and msg in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]

@pytest.mark.parametrize('cmd', ['train', 'eval'])
def test_height_zero(tmp_path, run, cmd):
    extra = ['--weights', 'w.pth'] if cmd == 'eval' else []
    r = run(cmd, '--data', 'synthetic', *TINY[:6], '--height', '0', *extra, tmp_path=tmp_path)
    assert r.returncode != 0 and '--height 0 --width 128: expected image sizes of at least 1 pixel' in r.stderr, r.stderr[-2000:]
    assert 'Traceback' not in r.stderr, r.stderr[-2000:]

def test_truncated_image_in_a_worker_is_one_line(tmp_path, run):
    "A training image cut short, read by a DataLoader worker process: one line naming it, not the worker's traceback"
    from uga_fast.test_utils import make_mini
    ex = make_mini('market1501', tmp_path/'data')
    bad = sorted((ex['root']/'bounding_box_train').glob('*.jpg'))[3]
    bad.write_bytes(bad.read_bytes()[:bad.stat().st_size // 2])
    r = run('train', '--data', 'market1501', '--root', 'data', '--pretrained', 'none', *TINY[:-4], '--num-workers', '2', '--device', 'cpu',
            '--intra-epochs', '1', '--inter-epochs', '0', '--out', 'run', tmp_path=tmp_path)
    assert r.returncode != 0 and f"cannot read image '{bad.relative_to(tmp_path)}'" in r.stderr and 'raised in a data-loading worker process' in r.stderr, r.stderr[-3000:]
    assert len(r.stderr.strip().splitlines()) <= 3 and 'Traceback' not in r.stderr, r.stderr[-3000:]

def test_trim_below_zero(tmp_path, run):
    r = run('train', '--data', 'synthetic', '--pretrained', 'none', *TINY, '--intra-epochs', '1', '--inter-epochs', '0', '--trim', '-1',
            '--out', 'bad', tmp_path=tmp_path)
    assert r.returncode != 0 and '--trim -1.0: expected a cut in median frame distances > 0' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert not (tmp_path/'bad').exists()

# ---- a tracker's output and data a stage cannot learn from (issue 24)

def test_train_on_a_tracker_output_with_its_filters(tmp_path, run):
    import json
    from uga_fast.synthetic import write_mot_scene
    from uga_fast.datasets import load_reid
    write_mot_scene(tmp_path/'scene', eval_split=True)
    flags = ['--min-len', '2', '--min-height', '20', '--max-frames', '0']
    r = run('train', '--data', 'mot', '--root', 'scene', *flags, '--pretrained', 'none', *TINY, '--intra-epochs', '2', '--inter-epochs', '1',
            '--lam', '0.3', '--out', 'run', tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    want = load_reid('mot', tmp_path/'scene', min_len=2, min_height=20, max_frames=None)   # the reader's options, as the flags gave them
    assert re.search(rf'^  train\s+{len(want.train)} images\s+{want.train.tracklet.nunique()} tracklets', r.stdout, re.M), r.stdout[:2000]
    assert json.loads((tmp_path/'run'/'metrics.json').read_text())['args']['min_len'] == 2
    assert '\r' not in r.stdout and re.findall(r'^(\d)\s+\d+\.\d{6}\s', r.stdout, re.M) == ['0', '1', '0'], r.stdout[-3000:]

def cli_fails(argv, msg, tmp_path, monkeypatch):
    "`main(argv)` in `tmp_path` exits with one line holding `msg`, and writes no --out"
    from uga_fast.cli import main
    monkeypatch.chdir(tmp_path); monkeypatch.setenv('UGA_FAST_HOME', str(tmp_path/'home'))
    with pytest.raises(SystemExit) as e: main([*argv, '--pretrained', 'none', *TINY, '--out', 'run'])
    assert msg in str(e.value.code), e.value.code
    assert not (tmp_path/'run').exists()

def test_reader_options_of_mot_are_refused_for_other_data(tmp_path, monkeypatch):
    cli_fails(['train', '--data', 'synthetic', '--min-len', '2'], "--min-len: an option of --data mot (a tracker's output); --data synthetic has no such option", tmp_path, monkeypatch)

def test_one_camera_is_refused_before_training(tmp_path, monkeypatch):
    from uga_fast.synthetic import write_mot_scene
    write_mot_scene(tmp_path/'scene', n_cams=1)
    cli_fails(['train', '--data', 'mot', '--root', 'scene', '--min-height', '20'], 'mot: the training set has one camera (c0); the inter-camera stage '
              'links tracklets across cameras and needs two or more: add a camera, or train the intra-camera stage only (--inter-epochs 0)', tmp_path, monkeypatch)

def folder_tree(root, n_tracklets:dict, bad:str=None):
    "`root/<camera>/<tracklet>/*.jpg`, three small images per tracklet; `bad`: a file name under root written as garbage"
    import numpy as np
    from PIL import Image
    for cam, n in n_tracklets.items():
        for t in range(n):
            (root/cam/f't{t}').mkdir(parents=True)
            for i in range(3): Image.fromarray(np.full((40, 20, 3), 40 * t + i, np.uint8)).save(root/cam/f't{t}'/f'{i}.jpg')
    if bad: (root/bad).write_bytes(b'not a jpeg')

def test_one_tracklet_in_every_camera_is_refused(tmp_path, monkeypatch):
    folder_tree(tmp_path/'own', {'c1': 1, 'c2': 1})
    cli_fails(['train', '--data', 'folder', '--root', 'own'], "folder: every camera holds one training tracklet (2 cameras): both stages learn by telling a "
              "camera's tracklets apart, so there is nothing to learn; expected two or more in a camera", tmp_path, monkeypatch)

def test_verify_names_an_unreadable_image_before_training(tmp_path, monkeypatch):
    folder_tree(tmp_path/'own', {'c1': 2, 'c2': 2}, bad='c2/t1/1.jpg')
    cli_fails(['train', '--data', 'folder', '--root', 'own', '--verify'], "c2/t1/1.jpg", tmp_path, monkeypatch)

def test_every_command_line_in_the_docs_parses():
    "Each `uga-fast COMMAND ...` of the notebooks' and README's shell examples is accepted by that command's parser (no option misspelt)"
    import json, shlex
    from uga_fast.cli import COMMANDS, _parse
    root = Path(__file__).resolve().parents[1]
    texts = [(p, ''.join(c['source'])) for p in sorted((root/'nbs').rglob('*.ipynb')) if '.ipynb_checkpoints' not in str(p)
             for c in json.loads(p.read_text())['cells'] if c['cell_type'] == 'markdown'] + [(root/'README.md', (root/'README.md').read_text())]
    seen = 0
    for p, text in texts:
        for block in re.findall(r'```(?:sh|bash|shell)\n(.*?)```', text, re.S):
            for cmd, rest in re.findall(r'uga-fast (\w+)([^;|>\n]*)', block.replace('\\\n', ' ')):
                if cmd not in COMMANDS: raise AssertionError(f'{p.name}: uga-fast {cmd}: no such command')
                args = shlex.split(rest.replace('$s', '0'), comments=True)
                try: _parse(COMMANDS[cmd], args, cmd)
                except SystemExit: raise AssertionError(f'{p.name}: uga-fast {cmd}{rest}: the parser refuses it') from None
                seen += 1
    assert seen >= 10, seen
