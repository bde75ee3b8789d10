"The offline doc site: `python tools/build_site.py` renders the notebooks, and headless Chromium opens the pages."
import re, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((shutil.which(b) for b in ('chromium', 'chromium-browser', 'google-chrome') if shutil.which(b)), None)

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp('site')/'_docs'
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'build_site.py'), '--out', str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return out

def dom(page:Path)->str:
    "The page's DOM after Chromium has loaded it and run its scripts"
    if CHROMIUM is None: pytest.fail("no Chromium: install Debian's `chromium` (.ci/run does)")
    r = subprocess.run([CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--virtual-time-budget=3000', '--dump-dom', page.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and '<body' in r.stdout, r.stderr[-2000:]
    return r.stdout

def test_every_notebook_has_a_page(site):
    nbs = [p for p in (ROOT/'nbs').rglob('*.ipynb') if not p.name.startswith('_') and '.ipynb_checkpoints' not in p.parts]
    assert len(list(site.glob('*.html'))) == len(nbs) > 12

@pytest.mark.parametrize('page,must', [
    ('index.html', ['uga_fast', 'Set up and run', 'fit_inter']),
    ('learner.html', ['UGALearner', 'fit_inter', 'The two stages on the synthetic data']),   # the API page and the worked demo
    ('graph.html', ['build_cvg', 'Figure 4']),
    ('demo.html', ['Tutorial: the synthetic demo', 'Cross-camera retrieval']),                # a tutorial
])
def test_page_renders_with_figures_and_no_errors(site, page, must):
    d = dom(site/page)
    for m in must: assert m in d, (page, m)
    assert re.search(r'<img[^>]+src="data:image/png;base64,', d), f'{page}: no figure'
    assert 'Traceback' not in d and 'jp-RenderedText" data-mime-type="application/vnd.jupyter.stderr' not in d, f'{page}: error output'
    n_links = len(re.findall(r'<nav>.*?</nav>', d, re.S)[0].split('<a ')) - 1
    assert n_links == len(list(site.glob('*.html')))
