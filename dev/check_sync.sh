#!/usr/bin/env bash
# Fails if `nbdev-export` or `nbdev-clean` would change anything: the package must match the notebooks, and the
# notebooks must be clean. Works on a copy, so the working tree is never touched.
set -euo pipefail
bin=$(cd "${1:-.venv/bin}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r "$top/nbs" "$top/icl_study" "$top/pyproject.toml" "$scratch/"
(cd "$scratch" && "$bin/nbdev-export" >/dev/null && "$bin/nbdev-clean" >/dev/null)
find "$scratch" -name __pycache__ -prune -exec rm -rf {} +
if ! diff -r -x __pycache__ -x '*.egg-info' "$top/nbs" "$scratch/nbs" >/dev/null || \
   ! diff -r -x __pycache__ -x '*.egg-info' "$top/icl_study" "$scratch/icl_study" >/dev/null; then
  echo "Out of sync: run '$bin/nbdev-export && $bin/nbdev-clean' and commit the result. Differences:" >&2
  diff -r -q -x __pycache__ -x '*.egg-info' "$top/nbs" "$scratch/nbs" >&2 || true
  diff -r -q -x __pycache__ -x '*.egg-info' "$top/icl_study" "$scratch/icl_study" >&2 || true
  exit 1
fi
echo "notebooks clean and package in sync"
