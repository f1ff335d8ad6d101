#!/usr/bin/env bash
# Executes every notebook headless with the tslab kernel (as CI does); outputs go to a temp folder,
# the committed notebooks stay output-free. Usage: scripts/run-notebooks.sh [notebook.ipynb ...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${FACEMAP_PYTHON:-/usr/bin/python3}
bash scripts/setup-jupyter.sh >/dev/null
export JUPYTER_PATH="$PWD/.jupyter/share/jupyter"
out=${NOTEBOOK_OUT:-$(mktemp -d)}
mkdir -p "$out"
notebooks=("$@")
[ ${#notebooks[@]} -gt 0 ] || notebooks=(notebooks/*.ipynb)
failed=0
for nb in "${notebooks[@]}"; do
  start=$(date +%s)
  if "$PY" -m jupyter nbconvert --to notebook --execute --ExecutePreprocessor.kernel_name=tslab \
      --ExecutePreprocessor.timeout=1800 --output-dir "$out" "$nb" >"$out/$(basename "$nb").log" 2>&1; then
    echo "notebook ok: $nb ($(( $(date +%s) - start )) s)"
  else
    echo "notebook FAILED: $nb" >&2
    tail -n 40 "$out/$(basename "$nb").log" >&2
    failed=1
  fi
done
echo "executed notebooks are in $out"
exit $failed
