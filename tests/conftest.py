"""Fixtures shared by the test files: the `uga-fast` command run in this process, and a tiny dataset to train on.

Starting the console script costs a fresh interpreter and the import of torch and fastai (seconds each time), so most command-line
tests call `uga_fast.cli.main` here instead (`uga_cli`), in the environment the subprocess had and with what it would print;
only the tests that need a real process (the entry point, `--help` importing nothing heavy, one end-to-end run) start `uga-fast`.
"""
import os, random, subprocess, sys, traceback, warnings
from contextlib import contextmanager
from pathlib import Path
import pytest

# A fresh interpreter's warning filters (no -W, no PYTHONWARNINGS): what the console script starts with, not pytest's
_FRESH_FILTERS = [('default', DeprecationWarning, '__main__'), ('ignore', DeprecationWarning, None),
                  ('ignore', PendingDeprecationWarning, None), ('ignore', ImportWarning, None), ('ignore', ResourceWarning, None)]

def _global_state()->dict:
    "What a command may change in the process that the next test would see (the RNGs are saved and put back separately)"
    import matplotlib, torch, uga_fast.core                           # first: fastai's modules add their callbacks to `defaults` on import
    from fastai.learner import defaults
    return dict(cwd=os.getcwd(), environ=dict(os.environ), sys_path=list(sys.path), callbacks=list(defaults.callbacks),
                defaults={k: v for k, v in vars(defaults).items() if k != 'callbacks'},
                backend=matplotlib.rcParams._get_backend_or_none(), threads=torch.get_num_threads(),
                deterministic=torch.are_deterministic_algorithms_enabled(), dtype=torch.get_default_dtype(),
                cudnn=(torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark))

def _restore(s:dict):
    "Put back the state `_global_state` recorded"
    import matplotlib, matplotlib.pyplot as plt, torch
    from fastai.learner import defaults
    plt.close('all')
    os.chdir(s['cwd'])
    os.environ.clear(); os.environ.update(s['environ'])
    sys.path[:] = s['sys_path']
    defaults.callbacks = list(s['callbacks'])                          # off a terminal `main` swaps the bars for lines (`_lines_not_bars`)
    for k in set(vars(defaults)) - set(s['defaults']) - {'callbacks'}: delattr(defaults, k)
    for k, v in s['defaults'].items(): setattr(defaults, k, v)
    if matplotlib.rcParams._get_backend_or_none() != s['backend']:    # `train` and `demo` call matplotlib.use('Agg')
        if s['backend'] is None: dict.__setitem__(matplotlib.rcParams, 'backend', matplotlib.rcsetup._auto_backend_sentinel)
        else: matplotlib.use(s['backend'])
    torch.set_num_threads(s['threads'])
    torch.use_deterministic_algorithms(s['deterministic'])
    torch.set_default_dtype(s['dtype'])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = s['cudnn']

@contextmanager
def _rngs_kept():
    "Python's, NumPy's and torch's global random generators as they were before the block"
    import numpy as np, torch
    st = random.getstate(), np.random.get_state(), torch.get_rng_state(), torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try: yield
    finally:
        random.setstate(st[0]); np.random.set_state(st[1]); torch.set_rng_state(st[2])
        if st[3] is not None: torch.cuda.set_rng_state_all(st[3])

@contextmanager
def _python_path(folder:str|None):
    "`folder` first on sys.path, the modules it shadows forgotten, as PYTHONPATH=folder gives a fresh interpreter; all put back after"
    if not folder: yield; return
    names = {p.stem if p.suffix == '.py' else p.name for p in Path(folder).iterdir()}
    shadowed = lambda: [m for m in sys.modules if m.split('.')[0] in names]
    saved = {m: sys.modules.pop(m) for m in shadowed()}
    sys.path.insert(0, folder)
    try: yield
    finally:
        for m in shadowed(): del sys.modules[m]                        # the stand-ins (or what they imported) gone, the real ones back
        sys.modules.update(saved)

def _exit_code(e:SystemExit, err)->int:
    "The exit status the interpreter gives for `e`: a message (anything but an int or None) goes to stderr, with status 1"
    if e.code is None: return 0
    if isinstance(e.code, int): return e.code
    print(e.code, file=err); return 1

def run_main(argv:list, cwd, capfd, **env)->subprocess.CompletedProcess:
    "`uga_fast.cli.main(argv)` as `uga-fast argv` in folder `cwd`: its exit status and what it printed; the process left as it was"
    from uga_fast.cli import main
    state = _global_state()
    capfd.readouterr()                                                 # this run's output only
    try:
        with _rngs_kept(), warnings.catch_warnings(), _python_path(env.get('PYTHONPATH')):
            warnings.resetwarnings()
            for action, cat, mod in reversed(_FRESH_FILTERS): warnings.filterwarnings(action, category=cat, module=mod or '')
            os.environ.update(UGA_FAST_HOME=str(Path(cwd)/'home'), MPLBACKEND='Agg', **env)
            os.chdir(cwd)
            try: code = main([str(a) for a in argv])
            except SystemExit as e: code = _exit_code(e, sys.stderr)
            except Exception: traceback.print_exc(); code = 1          # as the interpreter ends on an uncaught error
    finally: _restore(state)
    out, err = capfd.readouterr()
    return subprocess.CompletedProcess(['uga-fast', *argv], 0 if code is None else code, out, err)

@pytest.fixture
def uga_cli(capfd):
    "`uga_cli(*args, cwd=folder, **env)`: `uga-fast args` run in this process (`run_main`), a `CompletedProcess` back"
    return lambda *args, cwd, **env: run_main(list(args), cwd, capfd, **env)

@pytest.fixture(scope='module')
def tiny_folder(tmp_path_factory)->Path:
    "A tiny synthetic world in the `folder` layout (12 ids, 4 held out, 3 cameras, 32×16 images), written once per test module"
    from uga_fast.synthetic import write_synthetic
    return write_synthetic(tmp_path_factory.mktemp('tiny')/'tiny', n_ids=12, n_test_ids=4, n_cams=3, size=(32, 16))

@pytest.fixture
def process_kept():
    "For a test that calls `main` itself: the process state `run_main` keeps (working folder, environment, callbacks, RNGs...) put back after it"
    state = _global_state()
    with _rngs_kept(): yield
    _restore(state)

# The longest files first (seconds on this 2-core machine, 2 workers): with `--dist loadfile` a worker takes the next file when
# it is free, in collection order, so in name order test_resume.py (the last but one) ran alone at the end. Longest first
# leaves the short files to fill in. Files not named here keep their order, after these.
LONGEST_FIRST = ['test_resume.py',        # ~56 s: a run to kill and resume, four times over
                 'test_cli.py',           # ~55 s: the console script end to end, the demo twice
                 'test_device_check.py',  # ~27 s
                 'test_site.py',          # ~22 s: a site build and Chromium
                 'test_distributed.py',   # ~22 s: torchrun, two ranks
                 'test_cli_deploy.py']    # ~17 s: three ONNX exports

def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))   # a stable sort: each file's tests keep their order
