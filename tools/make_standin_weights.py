#!/usr/bin/env python
"""Write the stand-in weights that uga_fast ships, so that a first `uga-fast demo` trains nothing (issue 16).

    python tools/make_standin_weights.py

It trains `synthetic_weights()` with its default settings (seeded: resnet10t, 8 epochs on the 12-camera synthetic world of
seed 1, at 64x32), stores the body in half precision under `uga_fast/weights/` and prints the file's sha256. Put that hash
in `STANDIN_SHIPPED` (nbs/12_demo.ipynb), then run `nbdev-export`. Run it again whenever `STANDIN_VERSION` is raised.
"""
import hashlib, tempfile, time
from pathlib import Path
import torch
from uga_fast import demo

def main():
    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        p = demo.synthetic_weights(path=Path(d)/'standin.pth')              # a given path: never the shipped copy
        sd = torch.load(p, map_location='cpu', weights_only=True)
    half = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
    name = next(iter(demo.STANDIN_SHIPPED))                               # the default settings' file name
    assert demo.synthetic_weights(dry_run=True).name in (name, name.replace('.pth', '-fp16.pth')), 'STANDIN_SHIPPED names other settings'
    out = Path(demo.__file__).parent/'weights'/name.replace('.pth', '-fp16.pth')
    out.parent.mkdir(exist_ok=True)
    torch.save(half, out)
    print(f"wrote {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out} "
          f"({out.stat().st_size/1e6:.1f} MB, {time.time() - t0:.0f} s)\nsha256 {hashlib.sha256(out.read_bytes()).hexdigest()}")

if __name__ == '__main__': main()
