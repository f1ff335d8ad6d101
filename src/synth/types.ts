/** Shared shapes of simulated sessions (face video, behaviour latents, neural population). */

export { FACEMAP_KEYPOINTS, type FacemapKeypoint, type KeypointTraces } from '../pose/labels/types';

/**
 * Latent behaviours that drive both the rendered face and the simulated neurons, sampled at the
 * camera rate. `data` is nFrames x names.length, row-major, float32; each column's units are given
 * in `units` (e.g. 'a.u. 0..1', 'rad', 'px').
 */
export interface BehaviorLatents {
  fps: number;
  nFrames: number;
  names: string[];
  units: string[];
  data: Float32Array;
}
