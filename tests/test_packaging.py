"Building the package as pip does: the stand-in weights ship inside it, and setuptools has nothing to warn about."
import shutil, subprocess, sys, zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def copy_of_the_project(tmp_path)->Path:
    "What a build reads, copied: an in-tree build would leave build/ and *.egg-info in the checkout"
    src = tmp_path/'src'
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns('.git', '.venv', 'nbs', 'docs', 'build', '*.egg-info', '__pycache__'))
    return src

WARNINGS = ('is absent from the `packages` configuration', 'Please be careful with folders')   # what setuptools said before

def test_the_wheel_holds_the_weights_and_the_build_says_no_warning(tmp_path):
    src = copy_of_the_project(tmp_path)
    r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', str(src), '--no-deps', '--no-build-isolation', '-v', '-w', str(tmp_path/'out')],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert not any(w in r.stdout + r.stderr for w in WARNINGS), (r.stdout + r.stderr)[-3000:]
    names = zipfile.ZipFile(next((tmp_path/'out').glob('uga_fast-*.whl'))).namelist()
    assert [n for n in names if n.startswith('uga_fast/weights/') and n.endswith('.pth')], names

def test_an_editable_build_says_no_warning(tmp_path):
    "`pip install -e .` calls setuptools' PEP 660 hook; called here directly, its warnings are what pip would print"
    src = copy_of_the_project(tmp_path)
    r = subprocess.run([sys.executable, '-W', 'default', '-c', f"from setuptools import build_meta as b; print(b.build_editable({str(tmp_path/'out')!r}))"],
                       capture_output=True, text=True, cwd=src, timeout=600)
    assert r.returncode == 0 and r.stdout.strip().endswith('.whl'), r.stderr[-3000:]
    assert not any(w in r.stdout + r.stderr for w in WARNINGS), (r.stdout + r.stderr)[-3000:]
