/** Shared shapes of simulated sessions (face video, behaviour latents, neural population). */

/** Facemap's 15 default keypoints, in its output order. */
export const FACEMAP_KEYPOINTS = [
  'eye(back)',
  'eye(bottom)',
  'eye(front)',
  'eye(top)',
  'lowerlip',
  'mouth',
  'nose(bottom)',
  'nose(r)',
  'nose(tip)',
  'nose(top)',
  'nosebridge',
  'paw',
  'whisker(I)',
  'whisker(III)',
  'whisker(II)',
] as const;

export type FacemapKeypoint = (typeof FACEMAP_KEYPOINTS)[number];

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

/** Keypoint traces in original-frame pixels: x, y, likelihood each nFrames x nKeypoints, row-major. */
export interface KeypointTraces {
  names: string[];
  nFrames: number;
  x: Float32Array;
  y: Float32Array;
  likelihood: Float32Array;
}
