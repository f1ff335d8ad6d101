/**
 * `<video>_proc.h5`: Facemap's `_proc` contents as HDF5 (Facemap writes a .npy dict; lists become
 * groups whose members are named "0", "1", ... in list order).
 *
 * Layout (all float32 unless stated; "k" = components of that target, N = frames,
 * P = binned pixels of the concatenated frame, Lyb/Lxb = binned frame size):
 *   /motSVD/{i}        N x k      motion SVD projections; i = 0 is the whole frame (when
 *                                  config.motion), then the motion ROIs in the order of `rois`
 *   /movSVD/{i}        N x k      movie SVD projections; whole frame first when config.movie, then movie ROIs
 *   /motMask/{i}       pixels x k spatial masks (orthonormal columns); pixels row-major in the target's box
 *   /movMask/{i}       pixels x k
 *   /motMask_reshape/{i}  Ly x Lx x k (binned box) — the same values; for the whole frame of
 *                      several videos a group /motMask_reshape/0/{v} of Lyb_v x Lxb_v x k per video
 *   /movMask_reshape/{i}  as above
 *   /motSv/{i}, /movSv/{i}  k  singular values of each target (Facemap keeps only the last ROI's)
 *   /motion/{i}        N          motion energy of motion target i (sum of |diff| over binned pixels; frame 0 = 0)
 *   /avgframe, /avgmotion  P     mean binned frame and mean |diff|, videos concatenated
 *   /avgframe_reshape/{v}, /avgmotion_reshape/{v}  Lyb_v x Lxb_v per video
 *   /pupil/{j}/{area, area_smooth} N; /pupil/{j}/{com, com_smooth, axlen} N x 2 (com: row, column
 *                      in pixels of the original frame; axlen: semi-axes); /pupil/{j}/axdir N x 2 x 2
 *   /blink/{j}         N          mean grey level of blink ROI j
 *   /running/{j}       N x 2      columns (dx, dy), pixels per frame, of running ROI j
 *   /sbin              int32 scalar
 *   /Ly, /Lx           int32 [nVideos]  unbinned frame sizes; /Lybin, /Lxbin the binned sizes
 *   /filenames         fixed-length strings [nVideos]
 *   attributes of /:   rois (JSON of the ROI list), format = "facemap-ts motion proc", version = 1,
 *                      nFrames, targets (JSON: kind, roi index or null, box size of each target)
 * (pupil/blink/running are indexed j in the order of their ROIs among ROIs of that type.)
 */
import * as path from 'node:path';
import { writeH5, type H5Writer } from '../io/hdf5';
import type { Matrix } from '../engine/linalg';
import type { FittedTarget, MotionSVD, MotionSVDResult } from './svd';

export const PROC_FORMAT = 'facemap-ts motion proc';

/** Facemap's output name for a video: `<dir>/<basename without extension>_proc.h5`. */
export function procPath(video: string, outDir?: string): string {
  const base = path.basename(video, path.extname(video));
  return path.join(outDir ?? path.dirname(video), `${base}_proc.h5`);
}

function writeMatrix(w: H5Writer, p: string, m: Matrix): void {
  w.writeDataset(p, m.data, [m.rows, m.cols]);
}

function writeMasks(w: H5Writer, group: string, i: number, t: FittedTarget, model: MotionSVD): void {
  writeMatrix(w, `/${group}/${i}`, t.masks);
  const k = t.masks.cols;
  const reshape = `/${group}_reshape/${i}`;
  if (t.Ly !== null && t.Lx !== null) {
    w.writeDataset(reshape, t.masks.data, [t.Ly, t.Lx, k]);
  } else {
    for (const [v, l] of model.layout!.entries()) {
      w.writeDataset(`${reshape}/${v}`, t.masks.data.subarray(l.offset * k, (l.offset + l.Lyb * l.Lxb) * k), [l.Lyb, l.Lxb, k]);
    }
  }
}

/**
 * Writes the model and its result to `file` atomically (temp file + rename). Layout in the
 * module comment.
 */
export async function writeProc(file: string, model: MotionSVD, result: MotionSVDResult): Promise<void> {
  if (!model.layout || !model.avgframe || !model.avgmotion) throw new Error('writeProc: the model is not fitted');
  const layout = model.layout;
  await writeH5(file, (w) => {
    w.setAttr('/', 'format', PROC_FORMAT);
    w.setAttr('/', 'version', 1);
    w.setAttr('/', 'nFrames', result.nFrames);
    w.setAttr('/', 'rois', JSON.stringify(model.config.rois));
    w.setAttr('/', 'targets', JSON.stringify(model.targets.map((t) => ({ kind: t.kind, roi: t.roi, Ly: t.Ly, Lx: t.Lx, k: t.masks.cols }))));
    w.createGroup('/motSVD');
    w.createGroup('/movSVD');
    model.motionTargets.forEach((t, i) => {
      writeMatrix(w, `/motSVD/${i}`, result.motSVD[i]);
      writeMasks(w, 'motMask', i, t, model);
      w.writeDataset(`/motSv/${i}`, t.sv, [t.sv.length]);
      w.writeDataset(`/motion/${i}`, result.motion[i], [result.nFrames]);
    });
    model.movieTargets.forEach((t, i) => {
      writeMatrix(w, `/movSVD/${i}`, result.movSVD[i]);
      writeMasks(w, 'movMask', i, t, model);
      w.writeDataset(`/movSv/${i}`, t.sv, [t.sv.length]);
    });
    const P = model.nPixels;
    w.writeDataset('/avgframe', model.avgframe!, [P]);
    w.writeDataset('/avgmotion', model.avgmotion!, [P]);
    layout.forEach((l, v) => {
      const n = l.Lyb * l.Lxb;
      w.writeDataset(`/avgframe_reshape/${v}`, model.avgframe!.slice(l.offset, l.offset + n), [l.Lyb, l.Lxb]);
      w.writeDataset(`/avgmotion_reshape/${v}`, model.avgmotion!.slice(l.offset, l.offset + n), [l.Lyb, l.Lxb]);
    });
    result.pupil.forEach((p, j) => {
      const N = p.area.length;
      w.writeDataset(`/pupil/${j}/area`, p.area, [N]);
      w.writeDataset(`/pupil/${j}/area_smooth`, p.area_smooth, [N]);
      w.writeDataset(`/pupil/${j}/com`, p.com, [N, 2]);
      w.writeDataset(`/pupil/${j}/com_smooth`, p.com_smooth, [N, 2]);
      w.writeDataset(`/pupil/${j}/axlen`, p.axlen, [N, 2]);
      w.writeDataset(`/pupil/${j}/axdir`, p.axdir, [N, 2, 2]);
    });
    result.blink.forEach((b, j) => w.writeDataset(`/blink/${j}`, b, [b.length]));
    result.running.forEach((r, j) => {
      const N = r.dx.length;
      const xy = new Float32Array(2 * N);
      for (let t = 0; t < N; t++) {
        xy[2 * t] = r.dx[t];
        xy[2 * t + 1] = r.dy[t];
      }
      w.writeDataset(`/running/${j}`, xy, [N, 2]);
    });
    w.writeDataset('/sbin', Int32Array.of(model.config.sbin), []);
    w.writeDataset('/Ly', Int32Array.from(layout, (l) => l.Ly), [layout.length]);
    w.writeDataset('/Lx', Int32Array.from(layout, (l) => l.Lx), [layout.length]);
    w.writeDataset('/Lybin', Int32Array.from(layout, (l) => l.Lyb), [layout.length]);
    w.writeDataset('/Lxbin', Int32Array.from(layout, (l) => l.Lxb), [layout.length]);
    w.writeStrings('/filenames', model.names);
  });
}
