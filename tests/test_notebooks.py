"The notebooks as a reader of the doc site sees them: clean stored outputs, and a `show_doc` for every public name"
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

@pytest.mark.parametrize('nb,mod,src', list(_module_notebooks()), ids=lambda x: x.name if isinstance(x, Path) else '')
def test_every_public_name_has_show_doc(nb, mod, src):
    if mod == 'all': return
    m = importlib.import_module(f'uga_fast.{mod}')
    names = [n for n in m.__all__ if callable(getattr(m, n)) and type(getattr(m, n)).__name__ != 'partial']
    missing = [n for n in names if not re.search(rf'show_doc\({re.escape(n)}\s*[,)]', src)]
    assert not missing, f'{nb.name}: no show_doc for {missing}'

@pytest.mark.parametrize('nb', NBS, ids=lambda p: str(p.relative_to(ROOT/'nbs')))
def test_show_doc_cells_have_output(nb):
    empty = [i for i, c in enumerate(cells(nb)) if c['cell_type'] == 'code' and ''.join(c['source']).lstrip().startswith('show_doc(')
             and not c.get('outputs')]
    assert not empty, f'{nb.name}: show_doc cells {empty} have no stored output (execute the notebook: tools/run_nbs.py)'

def test_no_module_imports_a_higher_numbered_one():
    order = {mod: nb.stem for nb, mod, _ in _module_notebooks()}
    bad = []
    for mod, stem in order.items():
        src = (ROOT/'uga_fast'/f'{mod}.py').read_text(encoding='utf-8')
        for dep in set(re.findall(r'^\s*(?:from|import)\s+(?:uga_fast)?\.?(\w+)', src, re.M)) & set(order):
            if dep != mod and order[dep] > stem: bad.append(f'{mod} ({stem}) imports {dep} ({order[dep]})')
    assert not bad, bad
