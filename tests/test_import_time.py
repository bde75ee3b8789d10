"""`uga-fast --help` answers at once: the CLI imports torch, fastai and the rest of the library only when a command runs.

Checked by what a fresh process has imported, not by a clock (the timings are `benchmarks/bench_import.py`'s)."""
import json, subprocess, sys
import pytest

HEAVY = ('torch', 'fastai', 'pandas', 'numpy', 'PIL', 'matplotlib', 'timm')
COMMANDS = ('demo', 'train', 'eval', 'embed', 'search', 'export')

CHECK = """
import sys, io, json, contextlib
sys.argv = ['uga-fast', *ARGV]
from uga_fast.cli import main, COMMANDS
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try: rc = main()
    except SystemExit as e: rc = e.code
print(json.dumps(dict(rc=rc, help=out.getvalue(), commands=list(COMMANDS),
                      heavy=sorted(m for m in sys.modules if m.split('.')[0] in HEAVY),
                      ours=sorted(m for m in sys.modules if m.startswith('uga_fast.')))))
"""

def run_cli(*argv) -> dict:
    "`uga-fast ARGV` in a fresh interpreter (as the console script calls it): its exit code, its stdout, and what it imported"
    code = f"ARGV, HEAVY = {list(argv)!r}, {set(HEAVY)!r}\n" + CHECK
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.splitlines()[-1])

def test_help_imports_nothing_heavy():
    res = run_cli('--help')
    assert res['rc'] in (0, None)
    assert res['heavy'] == [], res['heavy']
    assert res['ours'] == ['uga_fast.cli'], res['ours']
    assert res['commands'] == list(COMMANDS)
    for c in COMMANDS: assert f'\n  {c} ' in res['help'], (c, res['help'])

@pytest.mark.parametrize('cmd', COMMANDS)
def test_command_help_imports_nothing_heavy(cmd):
    res = run_cli(cmd, '--help')
    assert res['rc'] in (0, None)
    assert res['heavy'] == [], res['heavy']
    assert res['ours'] == ['uga_fast.cli'], res['ours']
    assert res['help'].startswith(f'usage: uga-fast {cmd} '), res['help'][:200]
    assert '--weights' in res['help'] if cmd in ('eval', 'embed', 'search', 'export') else '--out' in res['help']

def test_train_help_lists_its_options():
    h = run_cli('train', '--help')['help']
    for o in ('--data', '--root', '--out', '--intra-epochs', '--inter-epochs', '--lam', '--resume', '--symmetric'): assert o in h, o
