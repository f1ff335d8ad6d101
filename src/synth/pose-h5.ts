/**
 * Files of a simulated session:
 *
 * 1. Keypoints in Facemap's pose layout (`<video>_FacemapPose.h5`): implemented in
 *    pose/labels/facemap-h5 (re-exported here).
 *
 * 2. Behaviour latents (`<name>_latents.h5`), this project's own layout:
 *      /latents   float32 [nFrames, nLatents], row-major (HDF5 order), one column per latent
 *        attrs:   names  string[nLatents]   column names (e.g. 'pupil', 'whisk_phase')
 *                 units  string[nLatents]   units of each column
 *                 fps    float64            camera frame rate, frames/s
 *      root attrs: format = 'facemap-ts/latents', version = 1
 *
 * Both are written atomically (temp file + rename).
 */
import { FormatError, ShapeError } from '../errors';
import { openH5, writeH5, type H5AttrValue, type H5Reader } from '../io/hdf5';
import type { BehaviorLatents } from './types';

export { readPoseH5, writePoseH5 } from '../pose/labels/facemap-h5';

/** Writes behaviour latents (data nFrames x nLatents, row-major) in the layout described above. */
export async function writeLatentsH5(file: string, latents: BehaviorLatents): Promise<void> {
  const nL = latents.names.length;
  if (latents.units.length !== nL) throw new ShapeError(`latents have ${nL} names but ${latents.units.length} units`);
  if (latents.data.length !== latents.nFrames * nL) {
    throw new ShapeError(`latents.data has ${latents.data.length} values; expected nFrames x nLatents = ${latents.nFrames} x ${nL}`);
  }
  await writeH5(file, (w) => {
    w.setAttr('/', 'format', 'facemap-ts/latents');
    w.setAttr('/', 'version', 1);
    w.writeDataset('/latents', latents.data, [latents.nFrames, nL]);
    w.setAttr('/latents', 'names', [...latents.names]);
    w.setAttr('/latents', 'units', [...latents.units]);
    w.setAttr('/latents', 'fps', latents.fps);
  });
}

/** Reads a file written by {@link writeLatentsH5}; FormatError naming the file when it is not one. */
export async function readLatentsH5(file: string): Promise<BehaviorLatents> {
  const r: H5Reader = await openH5(file);
  try {
    if (!r.has('/latents')) throw new FormatError(file, "no dataset 'latents' (expected a facemap-ts latents file)");
    const a = r.read('/latents');
    if (a.shape.length !== 2) throw new FormatError(file, `/latents has shape [${a.shape.join(', ')}]; expected [nFrames, nLatents]`);
    const [nFrames, nL] = a.shape;
    const attrs = r.attrs('/latents');
    const names = stringList(attrs.names);
    const units = stringList(attrs.units);
    const fps = Number(attrs.fps);
    if (!names || names.length !== nL) throw new FormatError(file, `/latents attribute 'names' must list ${nL} strings`);
    if (!units || units.length !== nL) throw new FormatError(file, `/latents attribute 'units' must list ${nL} strings`);
    if (!(fps > 0)) throw new FormatError(file, `/latents attribute 'fps' = ${String(attrs.fps)}; expected a number > 0`);
    return { fps, nFrames, names, units, data: Float32Array.from(a.data as ArrayLike<number>) };
  } finally {
    r.close();
  }
}

function stringList(v: H5AttrValue | undefined): string[] | null {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
  return null;
}
