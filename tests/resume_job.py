"""A small two-stage UGA run for tests/test_resume.py: `python resume_job.py OUT [STAGE EPOCH BATCH]`.

Trains `fit_intra(3)` then `fit_inter(3)` on tiny synthetic data with `resume=True` and `seed=0`, and writes the final weights,
the histories and the graph log to OUT. Given STAGE EPOCH BATCH, it kills itself with SIGKILL after that training batch: a crash
with no chance to clean up (no `finally`, no `after_fit`)."""
import os, sys, json, signal
import torch
from fastai.callback.core import Callback
from uga_fast.datasets import load_reid
from uga_fast.sampler import ReIDDataLoaders
from uga_fast.learner import UGALearner

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
        learn.fit_intra(3, lr=1e-3, resume=True, cbs=kill('intra'))
        learn.fit_inter(3, lr=1e-3, lam=0.2, update_per='iter', update_every=3, resume=True, cbs=kill('inter'))
    torch.save(learn.model.state_dict(), f'{out}/final.pth')
    hist = {k: v.drop(columns='time').to_dict('list') for k, v in learn.history.items()}   # the epoch tables, less their wall-clock seconds
    cvg = learn.cvg_rebuilds()
    hist['cvg'] = cvg.astype(object).where(cvg.notna(), None).to_dict('list')                 # and every graph rebuild (None: not measured)
    with open(f'{out}/history.json', 'w') as f: json.dump(hist, f)
    print('n_iter', len(dls.train))

if __name__ == '__main__': main(*sys.argv[1:])
