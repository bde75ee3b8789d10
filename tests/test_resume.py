"Kill a real two-stage run with SIGKILL mid-epoch, resume it, and get the weights of a run that was never interrupted, bit for bit"
import json, os, signal, subprocess, sys
from pathlib import Path
import pytest, torch

JOB = Path(__file__).with_name('resume_job.py')

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

def test_finished_run_resumes_to_nothing(uninterrupted):
    "A second `resume=True` run over a finished one trains nothing and ends with the same weights"
    import shutil
    again = run(uninterrupted)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "3 of 3 epochs done (finished)" in again.stdout
