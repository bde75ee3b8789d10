"""A small two-stage UGA run for tests/test_resume.py: `python resume_job.py OUT [STAGE EPOCH BATCH]`
(or `--serve`: many jobs, each forked from one process).

Trains `fit_intra(2)` then `fit_inter(2)` on tiny synthetic data with `resume=True` and `seed=0`, and writes the final weights,
the histories and the graph log to OUT. Given STAGE EPOCH BATCH, it kills itself with SIGKILL after that training batch: a crash
with no chance to clean up (no `finally`, no `after_fit`)."""
import os, sys, json, signal, traceback
import torch
from fastai.callback.core import Callback
from uga_fast.datasets import load_reid
from uga_fast.sampler import ReIDDataLoaders
from uga_fast.learner import UGALearner
from uga_fast.cli import main as cli_main

class KillAt(Callback):
    "SIGKILL this process after training batch `it` of `epoch`"
    order = 100
    def __init__(self, epoch, it): self.at = (epoch, it)
    def after_batch(self):
        if self.training and (self.epoch, self.iter) == self.at: os.kill(os.getpid(), signal.SIGKILL)

def main(out, stage=None, epoch=0, it=0):
    kill = lambda s: [KillAt(int(epoch), int(it))] if s == stage else []
    data = load_reid('synthetic', n_ids=12, n_test_ids=4, n_cams=3, seed=0)
    dls = ReIDDataLoaders.from_reid(data, bs=12, size=(32, 16), pad=2, device='cpu')
    learn = UGALearner(dls, arch='resnet10t', pretrained=False, emb_dim=32, seed=0, path=out)
    with learn.no_bar(), learn.no_logging():
        learn.fit_intra(2, lr=1e-3, resume=True, cbs=kill('intra'))
        learn.fit_inter(2, lr=1e-3, lam=0.2, update_per='iter', update_every=3, resume=True, cbs=kill('inter'))
    torch.save(learn.model.state_dict(), f'{out}/final.pth')
    hist = {k: v.drop(columns='time').to_dict('list') for k, v in learn.history.items()}   # the epoch tables, less their wall-clock seconds
    cvg = learn.cvg_rebuilds()
    hist['cvg'] = cvg.astype(object).where(cvg.notna(), None).to_dict('list')                 # and every graph rebuild (None: not measured)
    with open(f'{out}/history.json', 'w') as f: json.dump(hist, f)
    print('n_iter', len(dls.train))

def _child(kind:str, log:str, args:list)->int:
    "In a child of `serve`: stdout and stderr to LOG/stdout and LOG/stderr, then `main(*args)` or `uga-fast args`; the exit status"
    for fd, name in ((1, 'stdout'), (2, 'stderr')): os.dup2(os.open(f'{log}/{name}', os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    signal.signal(signal.SIGINT, signal.default_int_handler)           # Ctrl-C works even if CI runs the server in the background
    try:
        if kind == 'resume': main(*args)
        else: sys.exit(cli_main(args))                                 # what the `uga-fast` console script does
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int): return e.code or 0
        print(e.code, file=sys.stderr); return 1
    except BaseException: traceback.print_exc(); return 1
    return 0

def serve():
    """Run the jobs asked for on stdin, one JSON list `[KIND, LOG, ARG...]` a line (KIND 'resume': this script's job, 'cli': the
    `uga-fast` command), each in a child forked from this process, which imported the library once (a fresh interpreter spends
    seconds importing torch and fastai). For each, print the child's pid when it starts and its exit status when it ends (-9:
    killed by SIGKILL). One job at a time."""
    for line in sys.stdin:
        kind, log, *args = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try: code = _child(kind, log, args)
            finally: sys.stdout.flush(); sys.stderr.flush(); os._exit(code)
        print(pid, flush=True)
        print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)

if __name__ == '__main__':
    if sys.argv[1:] == ['--serve']: serve()
    else: main(*sys.argv[1:])
