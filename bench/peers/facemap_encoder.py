#!/usr/bin/env python3
"""Trains Facemap's own keypoint encoder (KeypointsNetwork.train_model) on arrays, for bench/neural.ts.

Usage: FACEMAP_SRC=/path/to/facemap-checkout python3 bench/peers/facemap_encoder.py DIR [N_ITER] [SEED]

Reads from DIR (all .npy, written by bench/neural.ts):
  X.npy       float32, nCam x nFeatures: z-scored keypoints at the camera rate
  Y.npy       float32, nNeural x nOut: neural PCs (targets)
  tcam.npy    float64, nCam camera times (s)
  tneural.npy float64, nNeural neural times (s)
  itrain.npy  int64, segments x trainLength: train samples (neural indices), one row a segment
  itest.npy   int64, segments x testLength: test samples
Runs, on the CPU, exactly what Facemap's neural-prediction GUI runs for a keypoint model:
  KeypointsNetwork(n_in=nFeatures, n_out=nOut).train_model(X, Y, tcam, tneural, itrain=, itest=,
  n_iter=N_ITER, device=cpu)   (delay -1, AdamW lr 1e-3, weight decay 1e-4, smoothing penalty 0.5,
  lr /10 at n_iter-100 and n_iter-50: all train_model's defaults)
and times it (wall seconds of train_model, which includes its test evaluation every 20 epochs).
Writes to DIR:
  facemap_ypred.npy  float32, test predictions of the PCs (test samples x nOut, Facemap's order)
  facemap_result.json  {seconds, n_iter, sec_per_epoch, ve (pooled test VE Facemap reports),
                        threads, torch version, n_params}

Facemap is imported from $FACEMAP_SRC at run time (never vendored). neural_model.py imports
facemap.gui.help_windows (PyQt) for its GUI progress bar, which train_model uses only when given a
GUI object: a dummy module stands in for it. Threads: torch, OMP, OpenBLAS limited to 2 (this
machine's cores; Debian's torch defaults to 1).
"""
import json
import os
import sys
import time
import types

THREADS = int(os.environ.get("BENCH_THREADS", "2"))
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, str(THREADS))


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    d = sys.argv[1]
    n_iter = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    src = os.environ.get("FACEMAP_SRC")
    if not src:
        sys.stderr.write("FACEMAP_SRC not set\n")
        return 2
    sys.path.insert(0, src)
    # Stand-ins for the GUI package (PyQt), only used by train_model when a GUI object is passed.
    gui = types.ModuleType("facemap.gui")
    gui.__path__ = []
    help_windows = types.ModuleType("facemap.gui.help_windows")
    gui.help_windows = help_windows
    sys.modules["facemap.gui"] = gui
    sys.modules["facemap.gui.help_windows"] = help_windows

    import numpy as np
    import torch
    from facemap.neural_prediction.neural_model import KeypointsNetwork

    torch.set_num_threads(THREADS)
    X = np.load(os.path.join(d, "X.npy"))
    Y = np.load(os.path.join(d, "Y.npy"))
    tcam = np.load(os.path.join(d, "tcam.npy"))
    tneural = np.load(os.path.join(d, "tneural.npy"))
    itrain = np.load(os.path.join(d, "itrain.npy"))
    itest = np.load(os.path.join(d, "itest.npy"))
    torch.manual_seed(seed)
    np.random.seed(seed)
    device = torch.device("cpu")
    model = KeypointsNetwork(n_in=X.shape[1], n_out=Y.shape[1]).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    sys.stderr.write(f"[facemap_encoder] X {X.shape}, Y {Y.shape}, {n_params} parameters, {n_iter} epochs, {torch.get_num_threads()} threads\n")
    t0 = time.perf_counter()
    y_pred, ve, _, _, itest_out = model.train_model(
        X, Y, tcam, tneural, itrain=itrain, itest=itest, n_iter=n_iter, device=device, verbose=True
    )
    seconds = time.perf_counter() - t0
    np.save(os.path.join(d, "facemap_ypred.npy"), y_pred.astype("float32"))
    np.save(os.path.join(d, "facemap_itest.npy"), np.asarray(itest_out).astype("int64"))
    res = {
        "seconds": seconds,
        "n_iter": n_iter,
        "sec_per_epoch": seconds / n_iter,
        "ve": float(ve),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "n_params": int(n_params),
    }
    with open(os.path.join(d, "facemap_result.json"), "w") as f:
        json.dump(res, f)
    sys.stderr.write(f"[facemap_encoder] {json.dumps(res)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
