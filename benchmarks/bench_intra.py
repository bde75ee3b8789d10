"""Speed and memory of one intra-camera training step (paper setting: ResNet-50, 256x128, batch 60).
Prints a table. Usage: python benchmarks/bench_intra.py [--arch resnet50] [--steps 3] [--device cpu|cuda]"""
import argparse, platform, resource, time, os
import torch
from fastai.torch_core import set_seed
from uga_fast.datasets import load_reid
from uga_fast.sampler import ReIDDataLoaders
from uga_fast.learner import UGALearner

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--arch', default='resnet50'); ap.add_argument('--steps', type=int, default=3)
    ap.add_argument('--bs', type=int, default=60); ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    a = ap.parse_args()
    set_seed(0)
    data = load_reid('synthetic', n_ids=100, n_test_ids=10, n_cams=6, size=(256, 128), seed=0)
    dls = ReIDDataLoaders.from_reid(data, bs=a.bs, size=(256, 128), device=a.device)
    learn = UGALearner(dls, arch=a.arch, pretrained=False)
    learn.model.to(a.device); learn.create_opt(); learn.model.train()
    xb, yb = dls.one_batch()
    def step():
        loss = learn.loss_func(learn.model(xb), yb); loss.backward(); learn.opt.step(); learn.opt.zero_grad()
        if a.device == 'cuda': torch.cuda.synchronize()
    step()                                          # warm-up
    if a.device == 'cuda': torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for _ in range(a.steps): step()
    dt = (time.perf_counter() - t)/a.steps
    cpu = next((l.split(':')[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor())
    print(f"machine: {os.cpu_count()} cores, {cpu}; torch {torch.__version__} ({torch.get_num_threads()} threads); device {a.device}")
    print(f"{'arch':<10}{'size':>9}{'batch':>7}{'s/step':>9}{'img/s':>8}{'peak RSS GB':>13}{'peak CUDA GB':>14}")
    cuda = f"{torch.cuda.max_memory_allocated()/2**30:.2f}" if a.device == 'cuda' else '-'
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/2**20
    print(f"{a.arch:<10}{'256x128':>9}{xb.shape[0]:>7}{dt:>9.2f}{xb.shape[0]/dt:>8.1f}{rss:>13.2f}{cuda:>14}")

if __name__ == '__main__': main()
