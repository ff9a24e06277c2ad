#!/usr/bin/env bash
# Fresh-venv install of news-bot, as the README's first command does it: wall time and venv size.
# From a copy of the working tree, or of a git revision to compare with (e.g. one from before a change):
#   eval/bench_install.sh [REV]
# Downloads come from the package index as pip is configured; a llama-cpp-python wheel that pip built
# before is reused from pip's cache (otherwise it compiles, ~13 min on 2 cores): the last line says which.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-install-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"
if [ -n "${1:-}" ]; then
  git -C "$root" archive "$1" | tar -x -C "$work/src"
else
  tar -C "$root" --exclude=./.venv --exclude=./.git --exclude=./eval/runs -cf - . | tar -x -C "$work/src"
fi

start=$(date +%s.%N)
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -e "$work/src[test]" >"$work/pip.log" 2>&1 || { tail -20 "$work/pip.log"; exit 1; }
end=$(date +%s.%N)

echo "install (venv + pip install -e .[test]): $(echo "$end - $start" | bc | xargs printf '%.0f') s"
echo "venv size: $(du -sh "$work/venv" | cut -f1)"
echo "torch installed: $("$work/venv/bin/python" -c 'import importlib.util as u; print(u.find_spec("torch") is not None)')"
if grep -q "Building wheel for llama-cpp-python" "$work/pip.log"; then
  echo "llama-cpp-python: compiled from source"
else
  echo "llama-cpp-python: $(grep -o 'Using cached llama_cpp_python[^ ]*' "$work/pip.log" || echo 'a prebuilt wheel')"
fi
