#!/usr/bin/env python3
"""Writes a tslab notebook from a simple cell list (used to author notebooks/ in reviewable form).

Usage: make_notebook.py OUT.ipynb < cells.txt, where cells are separated by lines '%% md' or '%% ts'.
"""
import json
import sys

out = sys.argv[1]
cells = []
kind = None
buf = []


def flush():
    if kind is None:
        return
    src = "\n".join(buf).strip("\n")
    lines = [l + "\n" for l in src.split("\n")]
    if lines:
        lines[-1] = lines[-1].rstrip("\n")
    if kind == "md":
        cells.append({"cell_type": "markdown", "metadata": {}, "source": lines})
    else:
        cells.append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": lines})


for line in sys.stdin.read().split("\n"):
    if line.startswith("%% "):
        flush()
        kind = line[3:].strip()
        buf = []
    else:
        buf.append(line)
flush()

nb = {
    "cells": cells,
    "metadata": {
        "kernelspec": {"display_name": "TypeScript", "language": "typescript", "name": "tslab"},
        "language_info": {"codemirror_mode": {"mode": "typescript", "name": "javascript", "typescript": True},
                          "file_extension": ".ts", "mimetype": "text/typescript", "name": "typescript", "version": "3.7.2"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}
for i, c in enumerate(nb["cells"]):
    c["id"] = f"cell-{i:02d}"
with open(out, "w") as f:
    json.dump(nb, f, indent=1)
    f.write("\n")
