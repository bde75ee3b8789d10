"Kill a real two-stage run with SIGKILL (or SIGINT, Ctrl-C) mid-epoch, resume it, and get the weights of a run that was never interrupted, bit for bit"
import json, os, signal, subprocess, sys
from pathlib import Path
import pytest, torch

JOB = Path(__file__).with_name('resume_job.py')

@pytest.fixture(scope='module')
def server():
    "`resume_job.py --serve`: one process that imports the library once and forks a child for each job"
    env = dict(os.environ, MPLBACKEND='Agg', PYTHONWARNINGS='ignore')
    p = subprocess.Popen([sys.executable, str(JOB), '--serve'], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    yield p
    p.stdin.close(); p.wait(60)

def start(server, kind:str, log, *args)->int:
    "Start a job in a child of `server` (see `resume_job.serve`), its output to files in `log`: its pid"
    Path(log).mkdir(parents=True, exist_ok=True)
    server.stdin.write(json.dumps([kind, str(log), *map(str, args)]) + '\n'); server.stdin.flush()
    return int(server.stdout.readline())

def finish(server, log, args)->subprocess.CompletedProcess:
    "Wait for the job `start` started: its exit status and what it printed"
    code = int(server.stdout.readline())
    return subprocess.CompletedProcess(args, code, *((Path(log)/n).read_text() for n in ('stdout', 'stderr')))

def run(server, out, *kill)->subprocess.CompletedProcess:
    "`python resume_job.py OUT [STAGE EPOCH BATCH]`, as a child of `server`: a real process, which SIGKILL ends"
    start(server, 'resume', out, out, *kill)
    return finish(server, out, [str(JOB), str(out), *map(str, kill)])

@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory, server):
    out = tmp_path_factory.mktemp('uninterrupted')
    r = run(server, out)
    assert r.returncode == 0, r.stderr[-3000:]
    return out

def weights(out): return torch.load(Path(out)/'final.pth', weights_only=True)
def history(out): return json.loads((Path(out)/'history.json').read_text())

@pytest.mark.parametrize('stage,epoch,batch', [('intra', 1, 5), ('inter', 1, 4)])
def test_kill_and_resume(server, uninterrupted, tmp_path, stage, epoch, batch):
    killed = run(server, tmp_path, stage, epoch, batch)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert not (tmp_path/'final.pth').exists()
    ck = torch.load(tmp_path/'models'/f'checkpoint_{stage}.pth', weights_only=True)
    assert (ck['stage'], ck['epoch']) == (stage, epoch - 1)            # the last finished epoch
    assert not [f for f in (tmp_path/'models').iterdir() if f.name.endswith('.tmp')]
    resumed = run(server, tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"{stage} stage: resuming from" in resumed.stdout and f"{epoch} of 2 epochs done" in resumed.stdout
    a, b = weights(uninterrupted), weights(tmp_path)
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"
    assert history(tmp_path) == history(uninterrupted)                 # epoch tables of both stages and every graph rebuild

def test_finished_run_resumes_to_nothing(server, uninterrupted):
    "A second `resume=True` run over a finished one trains nothing and ends with the same weights"
    again = run(server, uninterrupted)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "2 of 2 epochs done (finished)" in again.stdout

ARGS = ['train', '--data', 'folder', '--arch', 'resnet10t', '--pretrained', 'none', '--emb-dim', '32', '--bs', '12', '--height', '32',
        '--width', '16', '--intra-epochs', '3', '--inter-epochs', '2', '--lam', '0.2', '--num-workers', '0', '--device', 'cpu']

@pytest.fixture(scope='module')
def tiny_world(tmp_path_factory):
    "A tiny synthetic world (12 identities, 3 cameras) in the `folder` layout: the default one is 8× the images"
    from uga_fast.synthetic import write_synthetic
    return write_synthetic(tmp_path_factory.mktemp('world')/'tiny', n_ids=12, n_test_ids=4, n_cams=3, size=(32, 16))

def cli(server, out, *extra, root)->int:
    "Start `uga-fast train` with its progress bars on, as a user runs it from a terminal, in a child of `server`: its pid"
    return start(server, 'cli', f'{out}.log', *ARGS, '--root', root, '--out', out, *extra)

def output(server, out)->tuple:
    "Wait for the `uga-fast` that `cli` started: its exit status, and what it printed"
    r = finish(server, f'{out}.log', ['uga-fast'])
    return r.returncode, r.stdout + r.stderr

def alive(pid:int)->bool:
    try: os.kill(pid, 0); return True
    except ProcessLookupError: return False

def test_ctrl_c_then_resume_from_a_terminal_with_bars(server, tmp_path, tiny_world):
    "SIGINT (Ctrl-C) mid-epoch, then `--resume`, with fastprogress's console bars: the weights of a run that never stopped"
    import time
    cli(server, tmp_path/'whole', root=tiny_world); code, out_whole = output(server, tmp_path/'whole')
    assert code == 0, out_whole[-3000:]
    pid = cli(server, tmp_path/'cut', root=tiny_world)
    ck = tmp_path/'cut'/'models'/'checkpoint_intra.pth'
    for _ in range(3000):
        if ck.exists() or not alive(pid): break
        time.sleep(0.1)
    os.kill(pid, signal.SIGINT); code, out = output(server, tmp_path/'cut')
    assert code == 130 and 'interrupted (run the same command with --resume' in out, out[-3000:]
    assert not (tmp_path/'cut'/'models'/'inter.pth').exists()
    cli(server, tmp_path/'cut', '--resume', root=tiny_world); code, out_r = output(server, tmp_path/'cut')
    assert code == 0 and 'intra stage: resuming from' in out_r, out_r[-3000:]
    a = torch.load(tmp_path/'whole'/'models'/'inter.pth', weights_only=True)
    b = torch.load(tmp_path/'cut'/'models'/'inter.pth', weights_only=True)
    a, b = a.get('model', a), b.get('model', b)
    assert not [k for k in a if not torch.equal(a[k], b[k])]
    m = lambda d: json.loads((tmp_path/d/'metrics.json').read_text())
    assert m('whole')['inter'] == m('cut')['inter']
