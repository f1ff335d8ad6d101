#!/usr/bin/env python3
"""Runs Facemap's own motion SVD (facemap.process, non-GUI) on one video, for bench/svd.ts.

Usage: FACEMAP_SRC=/path/to/facemap-checkout python3 bench/peers/facemap_svd.py VIDEO OUTDIR [SBIN]

Drives the three stages that facemap.process.run() runs for a whole-frame motion SVD with no
ROIs (run(filenames=[[VIDEO]], sbin=4, motSVD=True, movSVD=False) minus its final save() of the
full proc dict to disk):
  utils.get_frame_details -> process.subsampled_mean -> process.compute_SVD(ncomps=500)
  -> process.process_ROIs (projection of every frame on the masks + motion energy).
The timed wall seconds cover exactly those calls (video opening included).

Writes to OUTDIR:
  motmask20.npy  float32, (Lyb*Lxb) x 20: motMask[0][:, :20]. Facemap's pixel order: spatial_bin
                 reshapes each grey frame's top-left (Lyb*sbin) x (Lxb*sbin) crop to
                 (Lyb, sbin, Lxb, sbin), means the sbin axes and flattens to Lyb*Lxb, i.e.
                 row-major binned (y, x) -> y*Lxb + x, the same order as facemap-ts's binFrames.
  result.json    timing, sizes, versions.

Facemap is imported from $FACEMAP_SRC at run time (never vendored). facemap/utils.py imports torch
at module level for unrelated (keypoint/neural) code; when torch is not installed a dummy module
is put in sys.modules. No GUI modules are imported by facemap.process.
Threads: OMP/OpenBLAS/MKL/NumExpr/Numba limited to 2 (set before numpy is imported).
"""
import json
import os
import resource
import sys
import time
import types

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "2")


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    video, outdir = sys.argv[1], sys.argv[2]
    sbin = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    src = os.environ.get("FACEMAP_SRC")
    if not src:
        sys.stderr.write("FACEMAP_SRC not set\n")
        return 2
    sys.path.insert(0, src)
    stubs = []
    try:
        import torch  # noqa: F401
    except ImportError:
        torch_stub = types.ModuleType("torch")
        torch_stub.__version__ = "not installed (stub)"
        # utils.py evaluates torch.device("cuda") etc. in default arguments at import time;
        # any other attribute resolves to a do-nothing callable (never used by the SVD path).
        torch_stub.__getattr__ = lambda name: (lambda *a, **k: None)
        sys.modules["torch"] = torch_stub
        stubs.append("torch")

    import numpy as np
    import sklearn
    import cv2
    from facemap import process, utils

    try:
        import threadpoolctl
        threadpoolctl.threadpool_limits(2)
    except Exception:
        pass
    try:
        cv2.setNumThreads(2)
    except Exception:
        pass

    os.makedirs(outdir, exist_ok=True)
    filenames = [[video]]
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    cumframes, Ly, Lx, containers = utils.get_frame_details(filenames)
    t_open = time.perf_counter()
    avgframe, avgmotion = process.subsampled_mean(containers, cumframes, Ly, Lx, sbin)
    t_mean = time.perf_counter()
    sys.stderr.write(f"[facemap] subsampled mean {t_mean - t_open:.1f} s\n")
    U_mot, U_mov, S_mot, S_mov = process.compute_SVD(
        containers, cumframes, Ly, Lx, avgframe, avgmotion,
        motSVD=True, movSVD=False, ncomps=500, sbin=sbin, rois=None, fullSVD=True,
    )
    t_svd = time.perf_counter()
    sys.stderr.write(f"[facemap] compute_SVD {t_svd - t_mean:.1f} s, masks {U_mot[0].shape}\n")
    V_mot, V_mov, M, pups, blinks, runs = process.process_ROIs(
        containers, cumframes, Ly, Lx, avgframe, avgmotion, U_mot, U_mov,
        motSVD=True, movSVD=False, sbin=sbin, rois=None, fullSVD=True,
    )
    t_proj = time.perf_counter()
    sys.stderr.write(f"[facemap] process_ROIs {t_proj - t_svd:.1f} s, motSVD {V_mot[0].shape}\n")
    utils.close_videos(containers)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)

    Lyb, Lxb, _ = process.binned_inds(Ly, Lx, sbin)
    U = np.ascontiguousarray(U_mot[0][:, :20], dtype=np.float32)
    np.save(os.path.join(outdir, "motmask20.npy"), U)
    mask_norms = np.linalg.norm(U_mot[0], axis=0)
    res = {
        "n_frames": int(cumframes[-1]),
        "Ly": int(Ly[0]),
        "Lx": int(Lx[0]),
        "Lyb": int(Lyb[0]),
        "Lxb": int(Lxb[0]),
        "sbin": sbin,
        "n_components": int(U_mot[0].shape[1]),
        "mask_col_norm_min": float(mask_norms.min()),
        "mask_col_norm_max": float(mask_norms.max()),
        "motSv_nonzero": int((np.asarray(S_mot) != 0).sum()),
        "open_s": t_open - t0,
        "mean_s": t_mean - t_open,
        "svd_s": t_svd - t_mean,
        "project_s": t_proj - t_svd,
        "total_s": t_proj - t0,
        "cpu_s": (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime),
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "stubbed_modules": stubs,
        "threads": 2,
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "opencv": cv2.__version__,
        "python": sys.version.split()[0],
    }
    with open(os.path.join(outdir, "result.json"), "w") as f:
        json.dump(res, f)
    sys.stderr.write(f"[facemap] total {res['total_s']:.1f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
