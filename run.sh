#!/usr/bin/env bash
# The two set-up commands of README.md, on a machine that has only Python 3.10+:
#   bash run.sh demo [options]   the main job (installs on first use)
#   bash run.sh test             the whole test suite, as CI runs it
#   bash run.sh docs             the doc site in _docs/ without Quarto (open _docs/index.html)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=${UGA_VENV:-.venv}

setup() {
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  # reinstall only when pyproject.toml changed since the last install
  stamp="$VENV/.uga_fast-installed"
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e '.[dev]'
    echo "$want" > "$stamp"
  fi
  export PATH="$PWD/$VENV/bin:$PATH" MPLBACKEND=Agg
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
}

cmd=${1:-help}; shift || true
case "$cmd" in
  demo) setup; uga-fast demo "$@" ;;
  test)
    setup
    check_export
    echo "== nbdev-test (notebooks; cells flagged slow/gpu/data are skipped)"
    nbdev-test --n-workers "${NBDEV_WORKERS:-2}" --timing "$@"
    echo "== pytest"
    python -m pytest -q tests ;;
  docs) setup; python tools/build_site.py "$@" ;;
  *) echo "usage: bash run.sh demo [options] | bash run.sh test | bash run.sh docs"; exit 2 ;;
esac
