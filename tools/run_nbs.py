#!/usr/bin/env python
"""Execute notebooks in place through a real Jupyter kernel, so that their stored outputs are what Jupyter shows.

    python tools/run_nbs.py nbs/11_learner.ipynb [more notebooks] [--all] [--also TEXT]

fastai's progress bars render as HTML tables (never console text), figures are stored as images, and `nbdev-clean` then
strips the metadata. Cells flagged `#| slow`, `#| gpu` or `#| data` keep the outputs they have unless `--all` is given (they take
minutes, or need a GPU or a real dataset); `--also TEXT` runs the flagged cells whose source contains TEXT as well. Run it without
`MPLBACKEND` set: a non-interactive backend stores no figures.
"""
import argparse, os, re, subprocess
from pathlib import Path
import nbformat
from nbclient import NotebookClient

FLAGGED = re.compile(r'^\s*#\|\s*(slow|gpu|data)\s*$', re.M)

class _Client(NotebookClient):
    "Skips the cells flagged slow/gpu/data, keeping their stored outputs"
    skip_flagged, also = True, None
    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if (self.skip_flagged and cell.cell_type == 'code' and FLAGGED.search(cell.source)
            and not (self.also and self.also in cell.source)): return cell
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

def run(path:Path, all_cells:bool=False, also:str|None=None, timeout:int=7200):
    "Execute the notebook at `path` in its own folder and write it back, cleaned"
    nb = nbformat.read(path, as_version=4)
    c = _Client(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(path.parent)}})
    c.skip_flagged, c.also = not all_cells, also
    c.execute()
    nbformat.write(nb, path)
    subprocess.run(['nbdev-clean', '--fname', str(path)], check=True)
    print('ran', path, flush=True)

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('nbs', nargs='+'); ap.add_argument('--all', action='store_true', help='also the slow/gpu/data cells')
    ap.add_argument('--also', help='also the slow/gpu/data cells whose source contains this text')
    ap.add_argument('--timeout', type=int, default=7200, help='seconds one cell may take')
    a = ap.parse_args()
    os.environ.pop('MPLBACKEND', None)
    for p in a.nbs: run(Path(p).resolve(), a.all, a.also, a.timeout)
