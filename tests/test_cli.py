"The `uga-fast` console script, run as a user runs it: in a subprocess, from the installed entry point."
import os, shutil, subprocess, sys
from pathlib import Path
import pytest

EXE = shutil.which('uga-fast', path=str(Path(sys.executable).parent)) or shutil.which('uga-fast')

def run(*args, tmp_path):
    env = dict(os.environ, UGA_FAST_HOME=str(tmp_path/'home'), MPLBACKEND='Agg')
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)

@pytest.fixture(autouse=True)
def _installed():
    if EXE is None: pytest.fail('the uga-fast console script is not installed (pip install -e .)')

def test_help_lists_commands(tmp_path):
    r = run('--help', tmp_path=tmp_path)
    assert r.returncode == 0 and 'demo' in r.stdout, r.stdout + r.stderr

def test_demo_help_documents_every_option(tmp_path):
    r = run('demo', '--help', tmp_path=tmp_path)
    assert r.returncode == 0
    for opt in ('--out', '--n-ids', '--n-test-ids', '--n-cams', '--height', '--width', '--bs', '--seed'): assert opt in r.stdout

def test_demo_writes_summary_and_batch_grid(tmp_path):
    r = run('demo', '--n-ids', '10', '--n-test-ids', '4', '--n-cams', '3', '--bs', '9', '--out', 'out', tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'synthetic: ' in r.stdout and '3 cameras' in r.stdout
    png = tmp_path/'out'/'batch.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 10_000
    assert (tmp_path/'home'/'synthetic').is_dir()      # the data was drawn into UGA_FAST_HOME

def test_unknown_command_fails_clearly(tmp_path):
    r = run('fly', tmp_path=tmp_path)
    assert r.returncode != 0 and "unknown command 'fly'" in r.stderr
