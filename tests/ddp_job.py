"""Two-stage UGA under DDP for tests/test_distributed.py: `torchrun --nproc_per_node 2 ddp_job.py OUT [graph]`.

Every rank writes OUT/rank<r>.pth: the graph it holds after `fit_inter`, its final weights, the weights the inter stage started
from, and the cameras and items of every training batch it saw."""
import sys, torch
from fastai.callback.core import Callback
from fastai.torch_core import rank_distrib, num_distrib
from uga_fast.datasets import load_reid
from uga_fast.sampler import ReIDDataLoaders
from uga_fast.learner import UGALearner

class Batches(Callback):
    "Log the training items of every batch (global tracklet targets)"
    def before_fit(self): self.seen = []
    def before_batch(self):
        if self.training: self.seen.append(self.learn.yb[0].as_subclass(torch.Tensor).cpu().clone())

def main(out):
    data = load_reid('synthetic', n_ids=12, n_test_ids=4, n_cams=3, seed=0)
    dls = ReIDDataLoaders.from_reid(data, bs=12, size=(32, 16), pad=2, device='cpu')
    learn = UGALearner(dls, arch='resnet10t', pretrained=False, emb_dim=32, seed=0, path=out)
    log = Batches()
    with learn.no_bar(), learn.no_logging():
        with learn.distrib_ctx(cpu=True): learn.fit_intra(2, lr=1e-3, cbs=log)
        start = {k: v.clone() for k, v in learn.model.state_dict().items()}
        intra_batches = log.seen
        with learn.distrib_ctx(cpu=True): learn.fit_inter(1, lr=1e-3, lam=0.2, cbs=log)
    W = learn.cvg.coalesce()
    torch.save(dict(rank=rank_distrib(), world=num_distrib(), start=start, final=learn.model.state_dict(), n_batches=len(intra_batches),
                    targets=torch.stack(intra_batches), cam=dls.node_cam, graph=(W.indices(), W.values(), list(W.shape)),
                    history=learn.cvg_rebuilds().to_dict('list')), f'{out}/rank{rank_distrib()}.pth')

if __name__ == '__main__':
    main(sys.argv[1])
    if sys.argv[2:] == ['graph']:                                   # graph_job.py in the same processes: a torchrun and its imports fewer
        import graph_job; graph_job.main(sys.argv[1])
