"""The notebooks as a reader of the doc site sees them: clean stored outputs, no sentence cut off by a hidden cell, figures sized for a page,
signatures as fastai shows its own. (Where names live and what each notebook may use: `test_architecture.py`.)"""
import importlib, json, re, tempfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT/'nbs').rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts)
BAR = re.compile(r'\|[\u2588-]{5,}\||\d+\.\d\d% \[\d+/\d+')                   # fastprogress's console bar
WARN = re.compile(r'\b\w*Warning\b:|^\s*warnings\.warn\(', re.M)
PLACES = {p for p in ('/root/', '/home/', '/Users/', '/tmp/', '/var/folders/', tempfile.gettempdir() + '/', str(Path.home()) + '/',
                      str(ROOT) + '/', 'C:\\Users\\') if len(p) > 2}

def cells(nb:Path): return json.loads(nb.read_text(encoding='utf-8'))['cells']

def output_text(o:dict)->str:
    d = o.get('data', {})
    return ''.join(o.get('text', '')) + ''.join(''.join(d.get(k, '')) for k in ('text/plain', 'text/markdown', 'text/html'))

def problems(nb:Path)->list:
    "What a reader should not see in the stored outputs of `nb`"
    out = []
    for i, c in enumerate(cells(nb)):
        for o in c.get('outputs', []):
            t, where = output_text(o), f'{nb.relative_to(ROOT)} cell {i}'
            if o.get('output_type') == 'error': out.append(f'{where}: an error ({o.get("ename")})')
            if o.get('name') == 'stderr': out.append(f'{where}: stderr output {t[:80]!r}')
            if BAR.search(t): out.append(f'{where}: console progress-bar text (execute through a kernel: tools/run_nbs.py)')
            if WARN.search(t): out.append(f'{where}: a warning {WARN.search(t).group(0)!r}')
            out += [f'{where}: the machine path {p!r}' for p in PLACES if p in t]
    return out

@pytest.mark.parametrize('nb', NBS, ids=lambda p: str(p.relative_to(ROOT/'nbs')))
def test_stored_outputs_are_clean(nb):
    assert not problems(nb), '\n'.join(problems(nb))

def test_the_check_catches_what_it_should():
    bad = {'/root/x', '/tmp/abc/models/x.pth', str(ROOT/'nbs'), 'Epoch 1/6 : |██████----| 5.88% [1/17 00:01<00:20]',
           "/x/torch/jit/_script.py:1491: FutureWarning: `torch.jit.script` is deprecated"}
    for t in bad:
        assert BAR.search(t) or WARN.search(t) or any(p in t for p in PLACES), t
    assert not (BAR.search('mAP 32.0 | rank-1 39.5') or WARN.search('no warning here') or any(p in 'tmp/demo/report.md' for p in PLACES))

def _module_notebooks():
    for nb in NBS:
        src = '\n'.join(''.join(c['source']) for c in cells(nb) if c['cell_type'] == 'code')
        if m := re.search(r'#\|\s*default_exp\s+(\S+)', src): yield nb, m.group(1), src

@pytest.mark.parametrize('nb', NBS, ids=lambda p: str(p.relative_to(ROOT/'nbs')))
def test_show_doc_cells_have_output(nb):
    empty = [i for i, c in enumerate(cells(nb)) if c['cell_type'] == 'code' and ''.join(c['source']).lstrip().startswith('show_doc(')
             and not c.get('outputs')]
    assert not empty, f'{nb.name}: show_doc cells {empty} have no stored output (execute the notebook: tools/run_nbs.py)'

def _hidden(c:dict)->bool: return c['cell_type'] == 'code' and re.search(r'^#\|\s*(hide|export)', ''.join(c['source']), re.M) is not None

@pytest.mark.parametrize('nb', NBS, ids=lambda p: str(p.relative_to(ROOT/'nbs')))
def test_no_sentence_ends_at_a_hidden_cell(nb):
    "A paragraph ending in ':' announces what follows; on the page, a hidden cell or the end of the notebook would cut it off"
    cs = cells(nb)
    bad = [i for i, c in enumerate(cs) if c['cell_type'] == 'markdown' and ''.join(c['source']).rstrip().endswith(':')
           and (i + 1 == len(cs) or _hidden(cs[i + 1]))]
    assert not bad, f'{nb.name}: markdown cells {bad} end with ":" and are followed by a hidden cell (or nothing)'

MAX_PNG = 200_000

@pytest.mark.parametrize('nb', NBS, ids=lambda p: str(p.relative_to(ROOT/'nbs')))
def test_figures_are_sized_for_a_page(nb):
    big = [(i, len(o['data']['image/png']) * 3 // 4) for i, c in enumerate(cells(nb)) for o in c.get('outputs', [])
           if 'image/png' in o.get('data', {}) and len(o['data']['image/png']) * 3 // 4 > MAX_PNG]
    assert not big, f'{nb.name}: stored PNGs over {MAX_PNG // 1000} KB (cell, bytes): {big}; use a smaller figsize or dpi'

def test_signatures_read_like_fastai():
    "A callback without settings shows `()`, not the twenty event keywords of fastai's `Callback.__init__`"
    import inspect, uga_fast.all as A
    classes = [n for n in A.__all__ if isinstance(getattr(A, n), type) and not issubclass(getattr(A, n), BaseException)]
    bad = [n for n in classes if 'after_create' in str(inspect.signature(getattr(A, n)))]
    assert not bad, f'signatures listing fastai event keywords: {bad} (give the class its own __init__)'
