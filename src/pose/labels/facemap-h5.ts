/**
 * Facemap's keypoint file (`<video>_FacemapPose.h5`), readable by Facemap and keypoint-MoSeq:
 *   /Facemap/<keypoint>/x           float32 [nFrames]  px
 *   /Facemap/<keypoint>/y           float32 [nFrames]  px
 *   /Facemap/<keypoint>/likelihood  float32 [nFrames]  0..1
 * one group per keypoint (e.g. `eye(back)`); NaN where a keypoint is not visible. Nothing else is
 * required; the writer adds no attributes, so the file is the layout Facemap writes. Written
 * atomically (temp file + rename).
 */
import { FormatError, ShapeError } from '../../errors';
import { openH5, writeH5 } from '../../io/hdf5';
import { FACEMAP_KEYPOINTS, type KeypointTraces } from './types';

const FIELDS = ['x', 'y', 'likelihood'] as const;

/** Writes `traces` (x, y, likelihood each nFrames x nKeypoints, row-major, px) in Facemap's pose layout. */
export async function writePoseH5(file: string, traces: KeypointTraces): Promise<void> {
  const { names, nFrames } = traces;
  const nK = names.length;
  for (const f of FIELDS) {
    if (traces[f].length !== nFrames * nK) {
      throw new ShapeError(`traces.${f} has ${traces[f].length} values; expected nFrames x nKeypoints = ${nFrames} x ${nK}`);
    }
  }
  if (new Set(names).size !== nK || names.some((n) => n.length === 0 || n.includes('/'))) {
    throw new ShapeError(`keypoint names must be distinct, non-empty and without '/': got ${JSON.stringify(names)}`);
  }
  await writeH5(file, (w) => {
    names.forEach((name, k) => {
      for (const f of FIELDS) {
        const col = new Float32Array(nFrames);
        const src = traces[f];
        for (let t = 0; t < nFrames; t++) col[t] = src[t * nK + k];
        w.writeDataset(`/Facemap/${name}/${f}`, col, [nFrames]);
      }
    });
  });
}

/**
 * Reads a Facemap pose file. Keypoints come in FACEMAP_KEYPOINTS order when the file holds
 * exactly those, else in the file's order. FormatError naming the file when the `Facemap` group,
 * a keypoint's x/y/likelihood dataset is missing, or their lengths differ.
 */
export async function readPoseH5(file: string): Promise<KeypointTraces> {
  const r = await openH5(file);
  try {
    if (!r.has('/Facemap')) throw new FormatError(file, "no group 'Facemap' (expected a Facemap pose file: /Facemap/<keypoint>/{x,y,likelihood})");
    const groups = r.list('/Facemap').filter((e) => e.kind === 'group').map((e) => e.name);
    if (groups.length === 0) throw new FormatError(file, "group 'Facemap' holds no keypoint groups");
    const isDefault = groups.length === FACEMAP_KEYPOINTS.length && FACEMAP_KEYPOINTS.every((k) => groups.includes(k));
    const names = isDefault ? [...FACEMAP_KEYPOINTS] : groups;
    let nFrames = -1;
    const cols: Record<(typeof FIELDS)[number], Float32Array[]> = { x: [], y: [], likelihood: [] };
    for (const name of names) {
      for (const f of FIELDS) {
        const p = `/Facemap/${name}/${f}`;
        if (!r.has(p)) throw new FormatError(file, `keypoint '${name}' has no dataset '${f}' (expected ${p})`);
        const a = r.read(p);
        if (a.shape.length !== 1) throw new FormatError(file, `${p} has shape [${a.shape.join(', ')}]; expected one dimension [nFrames]`);
        if (nFrames < 0) nFrames = a.shape[0];
        if (a.shape[0] !== nFrames) throw new FormatError(file, `${p} has ${a.shape[0]} frames; other keypoints have ${nFrames}`);
        cols[f].push(Float32Array.from(a.data as ArrayLike<number>));
      }
    }
    const nK = names.length;
    const out: KeypointTraces = {
      names,
      nFrames,
      x: new Float32Array(nFrames * nK),
      y: new Float32Array(nFrames * nK),
      likelihood: new Float32Array(nFrames * nK),
    };
    for (const f of FIELDS) {
      cols[f].forEach((col, k) => {
        for (let t = 0; t < nFrames; t++) out[f][t * nK + k] = col[t];
      });
    }
    return out;
  } finally {
    r.close();
  }
}
