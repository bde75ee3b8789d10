"""The doc site: the committed `docs/` is the build of the notebooks as they are, and headless Chromium opens the pages
of a fresh build (`python tools/build_site.py --out <tmp>`): figures, show_doc signatures, math rendered by KaTeX."""
import functools, html, json, re, subprocess, sys, shutil
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import build_site

CHROMIUM = next((shutil.which(b) for b in ('chromium', 'chromium-browser', 'google-chrome') if shutil.which(b)), None)
# the API pages, and the objects each must document with show_doc
API = {'learner.html': ['UGALearner'], 'graph.html': ['build_cvg'], 'loss.html': ['IntraCameraLoss', 'CrossCameraLoss'],
       'model.html': ['UGAModel'], 'sampler.html': ['CameraBalancedDL', 'ReIDDataLoaders']}
PROGRESS = re.compile(r'\|[\u2588-]{5,}\||\d+\.\d\d% \[\d+/\d+')   # fastprogress's console bar, or its text

def build(out:Path)->Path:
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'build_site.py'), '--out', str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    return out

@pytest.fixture(scope='module')
def site(tmp_path_factory): return build(tmp_path_factory.mktemp('site')/'docs')

@functools.cache
def dom(page:Path)->str:
    "The page's DOM after Chromium has loaded it and run its scripts (KaTeX)"
    if CHROMIUM is None: pytest.fail("no Chromium: install Debian's `chromium` (`bash run.sh test` does, as root)")
    r = subprocess.run([CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--virtual-time-budget=3000', '--dump-dom', page.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and '<body' in r.stdout, r.stderr[-2000:]
    return r.stdout

def text(h:str)->str:
    "The text of an HTML fragment"
    return html.unescape(re.sub(r'<[^>]*>', '', re.sub(r'<(script|style)\b.*?</\1>', '', h, flags=re.S)))

def has_signature(d:str, name:str)->bool:
    "Whether a heading names `name` and its show_doc signature follows: `def name(` / `class name(` (nbdev 3), `name (` (nbdev 2)"
    for m in re.finditer(rf'<h[2-6][^>]*>\s*{re.escape(name)}\s*(?:<a [^>]*>¶</a>)?\s*</h[2-6]>', d):
        if re.match(rf'\s*(?:async def |def |class )?{re.escape(name)} ?\(', text(d[m.end():m.end() + 3000])): return True
    return False

def math_spans(nb:Path)->list:
    "The TeX of the `$…$` and `$$…$$` of the notebook's markdown cells, outside code"
    md = '\n'.join(''.join(c['source']) for c in json.loads(nb.read_text(encoding='utf-8'))['cells'] if c['cell_type'] == 'markdown')
    md = re.sub(r'`[^`\n]*`', '', re.sub(r'^(```|~~~).*?^\1', '', md, flags=re.S | re.M))
    return [' '.join((a or b).split()) for a, b in re.findall(r'\$\$(.+?)\$\$|\$([^$\n]+?)\$', md, re.S)]

def notebook_of(page:Path)->Path:
    return ROOT/html.unescape(build_site.SOURCE_RE.search(page.read_text(encoding='utf-8')).group(1)).rpartition(' ')[0]

def test_committed_docs_are_current():
    problems = build_site.stale(ROOT/'docs')
    assert problems == [], '\n'.join(problems + [build_site.HINT])

def test_every_notebook_has_a_page(site):
    assert len(list(site.glob('*.html'))) == len(build_site.notebooks()) > 12
    assert build_site.stale(site) == []

def test_build_is_deterministic(site):
    "The fresh build is the committed docs/ byte for byte: two builds, at other times and into other folders, are the same files"
    again = ROOT/'docs'                     # a build of the same notebooks (`test_committed_docs_are_current` checks that), made earlier
    if build_site.stale(again): pytest.skip('docs/ is not the build of the notebooks as they are: test_committed_docs_are_current fails')
    files = sorted(p.relative_to(site) for p in site.rglob('*') if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob('*') if p.is_file())
    assert [f for f in files if (site/f).read_bytes() != (again/f).read_bytes()] == []

@pytest.mark.parametrize('page,must', [
    ('index.html', ['uga_fast', 'Set up and run', 'fit_inter']),
    ('learner.html', ['UGALearner', 'fit_inter', 'The scale of the scores']),   # the API page and the worked demo
    ('graph.html', ['build_cvg', 'Figure 4']),
    ('synthetic_demo.html', ['Tutorial: the synthetic demo', 'Cross-camera retrieval']),                # a tutorial
])
def test_page_renders_with_figures_and_no_errors(site, page, must):
    d = dom(site/page)
    for m in must: assert m in d, (page, m)
    assert re.search(r'<img[^>]+src="data:image/png;base64,', d), f'{page}: no figure'
    assert 'Traceback' not in d and 'jp-RenderedText" data-mime-type="application/vnd.jupyter.stderr' not in d, f'{page}: error output'
    n_links = len(re.findall(r'<nav>.*?</nav>', d, re.S)[0].split('<a ')) - 1
    assert n_links == len(list(site.glob('*.html')))

@pytest.mark.parametrize('page', API)
def test_show_doc_signatures(site, page):
    d = dom(site/page)
    missing = [n for n in API[page] if not has_signature(d, n)]
    assert not missing, f'{page}: no show_doc heading + signature for {missing}'

@pytest.mark.parametrize('page', API)
def test_math_rendered_by_katex(site, page):
    d, spans = dom(site/page), math_spans(notebook_of(site/page))
    assert 'katex-error' not in d, f'{page}: KaTeX could not parse {re.findall(r"katex-error[^>]*>([^<]*)", d)[:3]}'
    if not spans: return
    assert 'class="katex"' in d, f'{page}: math in the notebook, but none rendered'
    tex = {' '.join(html.unescape(t).split()) for t in re.findall(r'<annotation encoding="application/x-tex">(.*?)</annotation>', d, re.S)}
    assert [s for s in spans if s not in tex] == [], f'{page}: TeX of the notebook not rendered as written'

@pytest.mark.parametrize('page', API)
def test_no_progress_bars(site, page):
    bars = PROGRESS.findall(text(dom(site/page)))
    assert not bars, f'{page}: progress-bar output {bars[:3]} (run fits with the bar off, or clear those outputs)'
