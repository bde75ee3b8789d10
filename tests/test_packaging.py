"Building the package as pip does: the stand-in weights ship inside it, and setuptools has nothing to warn about."
import shutil, subprocess, sys, zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_the_wheel_holds_the_weights_and_the_build_says_no_warning(tmp_path):
    src = tmp_path/'src'                                     # a copy: an in-tree build would leave build/ in the checkout
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns('.git', '.venv', 'nbs', 'docs', 'build', '*.egg-info', '__pycache__'))
    r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', str(src), '--no-deps', '--no-build-isolation', '-v', '-w', str(tmp_path/'out')],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'is absent from the `packages` configuration' not in r.stdout + r.stderr, (r.stdout + r.stderr)[-3000:]
    names = zipfile.ZipFile(next((tmp_path/'out').glob('uga_fast-*.whl'))).namelist()
    assert [n for n in names if n.startswith('uga_fast/weights/') and n.endswith('.pth')], names
