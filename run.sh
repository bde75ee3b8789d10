#!/usr/bin/env bash
# The set-up commands of README.md, on a machine that has only Python 3.10+:
#   bash run.sh demo [options]   the main job (installs on first use)
#   bash run.sh test             the whole test suite, as CI runs it (installs Chromium for the doc-site test when it can)
#   bash run.sh lab              JupyterLab on nbs/, in the project's environment
#   bash run.sh docs [--check]   the doc site in docs/ without Quarto (open docs/index.html); --check: is docs/ current?
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=${UGA_VENV:-.venv}
# Python caches each module it compiles (the __pycache__ folders, in .venv and in the folders git ignores them in). Where
# PYTHONDONTWRITEBYTECODE is set it caches nothing, and every process compiles torch and fastai anew: about 20 s instead of 8 to
# import the library, in every process the test suite starts. Compiling all of .venv at install instead (pip's default,
# uv's --compile-bytecode) takes about a minute of CPU here, for 17,000 modules of which the suite imports 6,000.
unset PYTHONDONTWRITEBYTECODE

setup() {  # $1: the extras to install, e.g. dev, dev,jupyter or dev,export
  extras=${1:-dev}
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  # reinstall only when pyproject.toml (or the extras asked for) changed since the last install
  stamp="$VENV/.uga_fast-installed"
  want="$(sha256sum pyproject.toml | cut -d' ' -f1) $extras"
  if ! grep -qxF "$want" "$stamp" 2>/dev/null; then
    install_deps "$extras"
    echo "$want" >> "$stamp"
  fi
  export PATH="$PWD/$VENV/bin:$PATH"
}

install_deps() {  # $1: the extras. With uv where it installs (parallel downloads and unpacking: here half a minute, pip 2.5), else with pip
  if "$VENV/bin/python" -m pip install -q uv >/dev/null 2>&1 && [ -x "$VENV/bin/uv" ]; then
    # uv does not read pip's configuration: pass on the constraint files pip was given (an administrator's caps, e.g. on torch)
    cons=()
    for c in ${PIP_CONSTRAINT:-} $("$VENV/bin/python" -m pip config get global.constraint 2>/dev/null || true); do cons+=(--constraint "$c"); done
    # no --compile-bytecode: Python caches what is imported, when it is first imported (above)
    "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" ${cons[@]+"${cons[@]}"} --upgrade-package pip pip -e ".[$1]"
  else
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q --no-compile -e ".[$1]"
  fi
}

browser() {
  # the doc-site test opens the rendered pages in headless Chromium: install Debian's/Ubuntu's package when we may
  for b in chromium chromium-browser google-chrome; do command -v "$b" >/dev/null 2>&1 && return 0; done
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "== installing Chromium for the doc-site test (apt-get install chromium)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 || true
    command -v chromium >/dev/null 2>&1 && return 0
  fi
  echo "run.sh test: no Chromium, and it cannot be installed here (needs apt-get as root): install chromium, then run again" >&2
  exit 1
}

check_export() {
  # the notebooks are the source: uga_fast/ must be exactly what nbdev-export writes
  before=$(cat uga_fast/*.py | sha256sum)
  nbdev-export
  after=$(cat uga_fast/*.py | sha256sum)
  if [ "$before" != "$after" ]; then
    echo "uga_fast/ does not match the notebooks: run nbdev-export and commit uga_fast/ with the notebooks" >&2
    git diff --stat -- uga_fast 2>/dev/null || true
    exit 1
  fi
  python tools/make_readme.py --check
  python tools/build_site.py --check
}

cmd=${1:-help}; shift || true
case "$cmd" in
  demo) setup; MPLBACKEND=Agg uga-fast demo "$@" ;;
  test)
    browser
    setup dev,export   # export: onnx, onnxruntime, onnxscript for the ONNX export tests
    check_export
    # One thread per test process (two processes that each start a thread per core run several times slower than one) and about one
    # process per core. The notebooks run in two queues that take about as long: the learner's page (the longest by far) starts at
    # once in a process of its own, with the command line's page after it; the rest follow in name order in the other processes. The
    # same pattern picks a notebook for the first queue and skips it in the second, so each notebook runs once. pytest starts when
    # the first queue ends, so that no core waits for the other queue's last notebook. (All at once, four processes on two cores,
    # the learner's page ran at half speed from a third of the way in, and ended a minute after everything else.)
    n=${UGA_TEST_WORKERS:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)}   # the cores (GNU nproc says 1 under OMP_NUM_THREADS=1)
    export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}" MPLBACKEND=Agg
    long='^(11_learner|13_cli)\.ipynb$'
    echo "== nbdev-test (the notebooks; cells flagged slow/gpu/data are skipped) in two queues, $n processes; their times at the end"
    log1=$(mktemp); log2=$(mktemp)
    nbdev-test --n-workers 1 --timing --file-re "$long" "$@" > "$log1" 2>&1 & pid1=$!
    nbdev-test --n-workers "$(( n > 1 ? n - 1 : 1 ))" --timing --skip-file-re "^[_.]|$long" "$@" > "$log2" 2>&1 & pid2=$!
    wait -n "$pid1" "$pid2" || true
    echo "== pytest (tests/), $n processes, from when the first queue of notebooks ended"
    pyrc=0; python -m pytest -q -n "$n" --dist loadfile --durations=10 tests || pyrc=$?
    rc1=0; wait "$pid1" || rc1=$?; rc2=0; wait "$pid2" || rc2=$?
    echo "== nbdev-test, the two queues"
    cat "$log1" "$log2"; rm -f "$log1" "$log2"
    [ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ "$pyrc" = 0 ] ;;
  lab) setup dev,jupyter; jupyter lab --notebook-dir=nbs "$@" ;;
  docs) setup; python tools/build_site.py "$@" ;;
  *) echo "usage: bash run.sh demo [options] | bash run.sh test | bash run.sh lab | bash run.sh docs [--check]"; exit 2 ;;
esac
