"Kill a real two-stage run with SIGKILL mid-epoch, resume it, and get the weights of a run that was never interrupted, bit for bit"
import json, os, signal, subprocess, sys
from pathlib import Path
import pytest, torch

JOB = Path(__file__).with_name('resume_job.py')
SHARED = pytest.mark.xdist_group('resume')   # the tests of `uninterrupted` share one process, which runs that job once (pytest -n --dist loadgroup)

def run(out, *kill):
    env = dict(os.environ, MPLBACKEND='Agg', PYTHONWARNINGS='ignore')
    return subprocess.run([sys.executable, str(JOB), str(out), *map(str, kill)], capture_output=True, text=True, env=env, timeout=600)

@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp('uninterrupted')
    r = run(out)
    assert r.returncode == 0, r.stderr[-3000:]
    return out

def weights(out): return torch.load(Path(out)/'final.pth', weights_only=True)
def history(out): return json.loads((Path(out)/'history.json').read_text())

@SHARED
@pytest.mark.parametrize('stage,epoch,batch', [('intra', 1, 5), ('inter', 1, 4)])
def test_kill_and_resume(uninterrupted, tmp_path, stage, epoch, batch):
    killed = run(tmp_path, stage, epoch, batch)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert not (tmp_path/'final.pth').exists()
    ck = torch.load(tmp_path/'models'/f'checkpoint_{stage}.pth', weights_only=True)
    assert (ck['stage'], ck['epoch']) == (stage, epoch - 1)            # the last finished epoch
    assert not [f for f in (tmp_path/'models').iterdir() if f.name.endswith('.tmp')]
    resumed = run(tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"{stage} stage: resuming from" in resumed.stdout and f"{epoch} of 3 epochs done" in resumed.stdout
    a, b = weights(uninterrupted), weights(tmp_path)
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"
    assert history(tmp_path) == history(uninterrupted)                 # epoch tables of both stages and every graph rebuild

@SHARED
def test_finished_run_resumes_to_nothing(uninterrupted):
    "A second `resume=True` run over a finished one trains nothing and ends with the same weights"
    import shutil
    again = run(uninterrupted)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "3 of 3 epochs done (finished)" in again.stdout

CLI = Path(sys.executable).with_name('uga-fast')
ARGS = ['train', '--data', 'folder', '--arch', 'resnet10t', '--pretrained', 'none', '--emb-dim', '32', '--bs', '12', '--height', '32',
        '--width', '16', '--intra-epochs', '3', '--inter-epochs', '2', '--lam', '0.2', '--num-workers', '0', '--device', 'cpu']

@pytest.fixture(scope='module')
def tiny_world(tmp_path_factory):
    "A tiny synthetic world (12 identities, 3 cameras) in the `folder` layout: the default one is 8× the images"
    from uga_fast.synthetic import write_synthetic
    return write_synthetic(tmp_path_factory.mktemp('world')/'tiny', n_ids=12, n_test_ids=4, n_cams=3, size=(32, 16))

def cli(out, *extra, root, **kw):
    "`uga-fast train` with its progress bars on, as a user runs it from a terminal"
    env = dict(os.environ, MPLBACKEND='Agg')
    return subprocess.Popen([str(CLI), *ARGS, '--root', str(root), '--out', str(out), *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kw)   # Ctrl-C works even if CI runs us in the background

def test_ctrl_c_then_resume_from_a_terminal_with_bars(tmp_path, tiny_world):
    "SIGINT (Ctrl-C) mid-epoch, then `--resume`, with fastprogress's console bars: the weights of a run that never stopped"
    import time
    whole = cli(tmp_path/'whole', root=tiny_world); out_whole = whole.communicate(timeout=600)[0]
    assert whole.returncode == 0, out_whole[-3000:]
    p = cli(tmp_path/'cut', root=tiny_world)
    ck = tmp_path/'cut'/'models'/'checkpoint_intra.pth'
    for _ in range(3000):
        if ck.exists() or p.poll() is not None: break
        time.sleep(0.1)
    p.send_signal(signal.SIGINT); out = p.communicate(timeout=600)[0]
    assert p.returncode == 130 and 'interrupted (run the same command with --resume' in out, out[-3000:]
    assert not (tmp_path/'cut'/'models'/'inter.pth').exists()
    r = cli(tmp_path/'cut', '--resume', root=tiny_world); out_r = r.communicate(timeout=600)[0]
    assert r.returncode == 0 and 'intra stage: resuming from' in out_r, out_r[-3000:]
    a = torch.load(tmp_path/'whole'/'models'/'inter.pth', weights_only=True)
    b = torch.load(tmp_path/'cut'/'models'/'inter.pth', weights_only=True)
    a, b = a.get('model', a), b.get('model', b)
    assert not [k for k in a if not torch.equal(a[k], b[k])]
    m = lambda d: json.loads((tmp_path/d/'metrics.json').read_text())
    assert m('whole')['inter'] == m('cut')['inter']
