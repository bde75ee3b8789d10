#!/usr/bin/env python
"""Images per second per CPU core of the training loader at 256x128, against plain decoding and a plain torchvision loader (issue 16).

    python benchmarks/bench_loader.py                  # about 3 minutes on a 2-core CPU (the first run writes the images)
    python benchmarks/bench_loader.py --n 3000 --repeat 5

The data: a Market-1501-sized folder of JPEGs at 128x64 (the synthetic world, 12,936 training images, quality 90), written
once under --root and reused. Every row reads the same images in one process, with no workers (one core: images/s is per core),
and the best of --repeat rounds is kept (the rows take turns in each round):

  decode only (PIL)    PIL: open, decode, RGB
  open_image           the library's PIL reader, with its checks (truncation, EXIF, 16-bit)
  read_image           the loaders' reader: torchvision's decoders for intact JPEG/PNG, else open_image
  torchvision v2       a plain `torch.utils.data.DataLoader`: decode, then v2 Resize(256x128), horizontal flip, pad 10 +
                       random crop, to float, Normalize, per image; default collate
  uga CPU side         `ReIDDataLoaders.from_reid(...).train`, uint8 batches as they leave the CPU (before the batch
                       transforms); Market's 128x64 images are staged at their own size, so no resize here
  ..., resized per image  the same, as for a dataset of mixed image sizes: each image resized to 256x128 on the CPU
                       (torchvision's uint8 bilinear, PIL's pixels)
  uga end to end (CPU) the same with its batch transforms (resize to 256x128, flip, pad-crop, float, Normalize) on the
                       CPU as well; with a GPU they run there

On a GPU the batch transforms run on the device, so the CPU side is what the CPU must keep up with. Torch runs single-threaded
here (`torch.set_num_threads(1)`) so that every row uses one core.
"""
import argparse, os, platform, tempfile, time
from pathlib import Path

def write_jpegs(root:Path, n_ids:int, seed:int=0)->Path:
    "The synthetic world's training split at 128x64 as JPEGs (quality 90), in the `folder` layout, written once"
    from PIL import Image
    from uga_fast.synthetic import write_synthetic
    jroot = root/'jpeg'
    if (jroot/'.done').is_file(): return jroot
    png = write_synthetic(root/'png', n_ids=n_ids, n_test_ids=10, n_cams=6, size=(128, 64), frames=(2, 6), seed=seed)
    for p in sorted(png.rglob('*.png')):
        q = jroot/p.relative_to(png).with_suffix('.jpg')
        q.parent.mkdir(parents=True, exist_ok=True)
        Image.open(p).convert('RGB').save(q, quality=90)
    (jroot/'.done').write_text('')
    return jroot

def rates(rows:dict, repeat:int)->dict:
    "Best images/s of each row's `(fn, n)` over `repeat` rounds; the rows take turns, so that the machine's load hits them alike"
    best = dict.fromkeys(rows, 0.)
    for _ in range(repeat):
        for k, (fn, n) in rows.items():
            t0 = time.perf_counter(); fn(); best[k] = max(best[k], n/(time.perf_counter() - t0))
    return best

def plain_loader(paths:list, bs:int):
    "A plain torchvision v2 DataLoader doing the same augmentation per image, on the CPU"
    import torch
    from PIL import Image
    from torchvision.transforms import v2
    tfm = v2.Compose([v2.ToImage(), v2.Resize((256, 128), antialias=True), v2.RandomHorizontalFlip(),
                      v2.Pad(10), v2.RandomCrop((256, 128)), v2.ToDtype(torch.float32, scale=True),
                      v2.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    class DS(torch.utils.data.Dataset):
        def __len__(self): return len(paths)
        def __getitem__(self, i): return tfm(Image.open(paths[i]).convert('RGB')), 0
    return torch.utils.data.DataLoader(DS(), batch_size=bs, shuffle=True, drop_last=True, num_workers=0)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--root', default=str(Path(tempfile.gettempdir())/'uga_bench_loader'), help='where the images are written once')
    ap.add_argument('--n-ids', type=int, default=900, help='training identities of the world (900: 12,936 images, as Market-1501)')
    ap.add_argument('--n', type=int, default=3000, help='images per timed pass')
    ap.add_argument('--repeat', type=int, default=3, help='timed passes per row; the best is kept')
    ap.add_argument('--bs', type=int, default=60)
    a = ap.parse_args()
    import torch
    from PIL import Image
    from fastcore.foundation import L
    from uga_fast.data import open_image
    try: from uga_fast.data import read_image
    except ImportError: read_image = None   # before issue 16
    from uga_fast.datasets import load_reid
    from uga_fast.sampler import ReIDDataLoaders
    torch.set_num_threads(1)
    root = write_jpegs(Path(a.root), a.n_ids)
    data = load_reid('folder', root, seed=0)
    paths = data.train.path.tolist()
    cpu = next((l.split(':')[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor())
    print(f"machine: {os.cpu_count()} cores, {cpu}; torch {torch.__version__}; one core per row (no workers, 1 torch thread)")
    print(f"data: {len(paths):,} training JPEGs of 128x64 in {short(root)}; {a.n:,} images per pass, best of {a.repeat}; batch {a.bs}; out 256x128\n")
    nb = a.n//a.bs
    def take(dl):
        it = iter(dl)
        for _ in range(nb): next(it)
    dls = ReIDDataLoaders.from_reid(data, bs=a.bs, size=(256, 128), pad=10, flip=0.5, seed=0, num_workers=0, device='cpu')
    cpu_side = dls.train.new(after_batch=L())             # the same loader, its batch transforms left to the device
    resized = None
    if getattr(dls, 'stage_size', None):                  # images of mixed sizes (DukeMTMC, MSMT17): each resized on the CPU, in uint8
        import uga_fast.sampler as S
        keep, S._stage_size = S._stage_size, lambda paths, size, n=64: tuple(size)
        try: resized = ReIDDataLoaders.from_reid(data, bs=a.bs, size=(256, 128), seed=0, num_workers=0, device='cpu').train.new(after_batch=L())
        finally: S._stage_size = keep
    rows = rates({'decode only (PIL)': (lambda: [Image.open(p).convert('RGB').load() for p in paths[:a.n]], a.n),
                  'uga open_image (PIL + checks)': (lambda: [open_image(p) for p in paths[:a.n]], a.n),
                  **({'uga read_image (loaders\' decode)': (lambda: [read_image(p) for p in paths[:a.n]], a.n)} if read_image else {}),
                  'torchvision v2 DataLoader': (lambda: take(plain_loader(paths, a.bs)), nb*a.bs),
                  'uga CPU side (uint8 batches)': (lambda: take(cpu_side), nb*a.bs),
                  **({'uga CPU side, resized per image': (lambda: take(resized), nb*a.bs)} if resized is not None else {}),
                  'uga end to end on the CPU': (lambda: take(dls.train), nb*a.bs)}, a.repeat)
    base = rows['torchvision v2 DataLoader']
    print(f"{'':34s} {'images/s/core':>14s} {'x plain':>8s}")
    for k, v in rows.items(): print(f"{k:34s} {v:14,.0f} {v/base:8.2f}")
    print(f"\ngoal (issue 16): the CPU side at >= 3x the plain pipeline per core and >= 1,500 images/s")

def short(p:Path)->str:
    try: return '~/' + str(Path(p).relative_to(Path.home()))
    except ValueError: return str(p)

if __name__ == '__main__': main()
