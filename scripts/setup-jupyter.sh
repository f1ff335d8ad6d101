#!/usr/bin/env bash
# Registers the tslab TypeScript kernel in a project-local Jupyter path (.jupyter/), using Debian's
# Jupyter (/usr/bin/python3). Prints the JUPYTER_PATH to export.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${FACEMAP_PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import notebook, nbconvert, nbclient, ipykernel' 2>/dev/null; then
  echo "setup-jupyter: $PY lacks Jupyter; install Debian's packages:" >&2
  echo "  apt-get install -y jupyter-notebook python3-nbconvert python3-nbclient jupyter-client python3-ipykernel jupyter-nbconvert" >&2
  exit 1
fi
[ -x node_modules/.bin/tslab ] || { echo "setup-jupyter: node_modules/.bin/tslab missing: run 'npm ci' first" >&2; exit 1; }
node node_modules/tslab/bin/tslab install --python="$PY" --prefix="$PWD/.jupyter" --binary="$PWD/node_modules/.bin/tslab" >/dev/null
echo "tslab kernel registered in $PWD/.jupyter/share/jupyter"
echo "export JUPYTER_PATH=$PWD/.jupyter/share/jupyter"
