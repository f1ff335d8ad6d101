/**
 * Training augmentation for FMnet, seeded by an Rng so that a run is reproducible.
 *
 * Facemap's set (defaults): random box expansion by 10-30% of the box's size on each side
 * (independently, clamped to the frame), horizontal flip with p = 0.5 (keypoints mirrored; an
 * optional `flipSwap` permutation exchanges left/right keypoints, not needed for a side view),
 * brightness +-0.2 and contrast x0.7-1.3 applied to the normalised image (x * contrast + brightness).
 * Optional (off by default, as in Facemap; DeepPoseKit-style): rotation about the image centre,
 * isotropic scale, additive Gaussian noise.
 *
 * Every geometric step is one affine map in network-input pixels applied to the image (bilinear,
 * zero outside) and to the keypoints, so that they stay consistent. Keypoints that leave the image
 * become NaN (not labelled), as do keypoints that were NaN.
 */
import { ParamError, ShapeError } from '../errors';
import type { Rng } from '../util/random';
import { type CropBox, type CropTransform, DEFAULT_EXPAND_RANGE, cropPadResize, cropTransform, expandBox, normalizeFrame, toNetworkCoords } from './preprocess';

export interface AugmentConfig {
  /** Box expansion per side as a fraction of the box's size, drawn uniformly in [min, max]. Default [0.1, 0.3]. */
  expand?: [number, number];
  /** Probability of a horizontal flip. Default 0.5. */
  flipProb?: number;
  /** After a flip, keypoint k takes the label of keypoint flipSwap[k] (a permutation). Default identity. */
  flipSwap?: readonly number[];
  /** Brightness offset drawn in [-b, b]. Default 0.2. */
  brightness?: number;
  /** Contrast factor drawn in [min, max]. Default [0.7, 1.3]. */
  contrast?: [number, number];
  /** Rotation drawn in [-deg, deg] degrees. Default 0 (off). */
  rotationDeg?: number;
  /** Scale factor drawn in [min, max]. Default [1, 1] (off). */
  scale?: [number, number];
  /** Standard deviation of additive Gaussian noise on the normalised image. Default 0 (off). */
  noiseStd?: number;
  /** Network input side. Default 256. */
  outSize?: number;
}

/** One augmented training example. */
export interface AugmentedSample {
  /** [outSize*outSize] row-major, normalised, augmented. */
  image: Float32Array;
  /** [K*2] (x, y) in network-input pixels; NaN where not labelled or outside the image. */
  keypoints: Float32Array;
  /** The crop of the (expanded) box before the geometric augmentation. */
  transform: CropTransform;
  /** What was drawn. */
  params: { box: CropBox; flipped: boolean; rotationDeg: number; scale: number; brightness: number; contrast: number };
}

function resolve(c: AugmentConfig, nKeypoints: number): Required<AugmentConfig> {
  const r: Required<AugmentConfig> = {
    expand: [...DEFAULT_EXPAND_RANGE],
    flipProb: 0.5,
    flipSwap: Array.from({ length: nKeypoints }, (_, i) => i),
    brightness: 0.2,
    contrast: [0.7, 1.3],
    rotationDeg: 0,
    scale: [1, 1],
    noiseStd: 0,
    outSize: 256,
    ...c,
  };
  const range = (name: string, [a, b]: [number, number], min: number): void => {
    if (!(a >= min && b >= a)) throw new ParamError(name, [a, b], `[min, max] with ${min} <= min <= max`);
  };
  range('expand', r.expand, 0);
  range('contrast', r.contrast, 0);
  if (!(r.scale[0] > 0)) throw new ParamError('scale', r.scale, '[min, max] with 0 < min <= max');
  range('scale', r.scale, 0);
  if (!(r.flipProb >= 0 && r.flipProb <= 1)) throw new ParamError('flipProb', r.flipProb, 'a number in [0, 1]');
  if (!(r.brightness >= 0)) throw new ParamError('brightness', r.brightness, 'a number >= 0');
  if (!(r.rotationDeg >= 0 && r.rotationDeg <= 180)) throw new ParamError('rotationDeg', r.rotationDeg, 'a number in [0, 180]');
  if (!(r.noiseStd >= 0)) throw new ParamError('noiseStd', r.noiseStd, 'a number >= 0');
  const sorted = [...r.flipSwap].sort((a, b) => a - b);
  if (r.flipSwap.length !== nKeypoints || !sorted.every((v, i) => v === i)) {
    throw new ParamError('flipSwap', r.flipSwap, `a permutation of 0..${nKeypoints - 1}`);
  }
  return r;
}

const uniform = (rng: Rng, a: number, b: number): number => a + (b - a) * rng.uniform();

/**
 * Draws one augmentation of a labelled frame.
 * @param frame [height*width] row-major grey.
 * @param box the labelling crop box (original-frame pixels).
 * @param keypoints [K*2] (x, y) in original-frame pixels, NaN = not labelled.
 */
export function augmentSample(
  frame: Float32Array | Uint8Array,
  width: number,
  height: number,
  box: CropBox,
  keypoints: Float32Array,
  rng: Rng,
  config: AugmentConfig = {},
): AugmentedSample {
  if (keypoints.length % 2 !== 0) throw new ShapeError(`keypoints has ${keypoints.length} values; expected K*2`);
  const K = keypoints.length / 2;
  const c = resolve(config, K);
  const S = c.outSize;
  cropTransform(box, width, height, S);

  const grow = (): number => uniform(rng, c.expand[0], c.expand[1]);
  // Drawn in this order (left, right, top, bottom) so that a seed gives the same crops as before.
  const l = grow();
  const r = grow();
  const t0 = grow();
  const b = grow();
  const big: CropBox = expandBox(box, width, height, l, r, t0, b);
  const t = cropTransform(big, width, height, S);
  const base = cropPadResize(frame, width, height, t);

  const flipped = rng.uniform() < c.flipProb;
  const rotationDeg = c.rotationDeg > 0 ? uniform(rng, -c.rotationDeg, c.rotationDeg) : 0;
  const scale = c.scale[1] > c.scale[0] ? uniform(rng, c.scale[0], c.scale[1]) : c.scale[0];
  const brightness = c.brightness > 0 ? uniform(rng, -c.brightness, c.brightness) : 0;
  const contrast = c.contrast[1] > c.contrast[0] ? uniform(rng, c.contrast[0], c.contrast[1]) : c.contrast[0];

  // Forward map q = A p + b about the centre: rotate and scale, then mirror x.
  const mid = (S - 1) / 2;
  const th = (rotationDeg * Math.PI) / 180;
  const f = flipped ? -1 : 1;
  const a11 = f * scale * Math.cos(th);
  const a12 = -f * scale * Math.sin(th);
  const a21 = scale * Math.sin(th);
  const a22 = scale * Math.cos(th);
  const fwd = (x: number, y: number): [number, number] => [mid + a11 * (x - mid) + a12 * (y - mid), mid + a21 * (x - mid) + a22 * (y - mid)];
  const det = a11 * a22 - a12 * a21;
  const inv = (x: number, y: number): [number, number] => {
    const dx = x - mid;
    const dy = y - mid;
    return [mid + (a22 * dx - a12 * dy) / det, mid + (-a21 * dx + a11 * dy) / det];
  };

  const identity = !flipped && rotationDeg === 0 && scale === 1;
  const warped = identity ? base : warpBilinear(base, S, inv);
  const image = normalizeFrame(warped);
  for (let i = 0; i < image.length; i++) {
    image[i] = image[i] * contrast + brightness + (c.noiseStd > 0 ? c.noiseStd * rng.normal() : 0);
  }

  const moved = new Float32Array(K * 2);
  for (let k = 0; k < K; k++) {
    const [nx, ny] = toNetworkCoords(t, keypoints[2 * k], keypoints[2 * k + 1]);
    const [x, y] = fwd(nx, ny);
    const inside = x >= -0.5 && x <= S - 0.5 && y >= -0.5 && y <= S - 0.5;
    moved[2 * k] = inside ? x : NaN;
    moved[2 * k + 1] = inside ? y : NaN;
  }
  const out = new Float32Array(K * 2);
  for (let k = 0; k < K; k++) {
    const src = flipped ? c.flipSwap[k] : k;
    out[2 * k] = moved[2 * src];
    out[2 * k + 1] = moved[2 * src + 1];
  }
  return { image, keypoints: out, transform: t, params: { box: big, flipped, rotationDeg, scale, brightness, contrast } };
}

/** Output pixel q takes the bilinear sample of img at inv(q); zero outside. img: [S*S]. */
function warpBilinear(img: Float32Array, S: number, inv: (x: number, y: number) => [number, number]): Float32Array {
  const out = new Float32Array(S * S);
  const at = (r: number, c: number): number => (r >= 0 && r < S && c >= 0 && c < S ? img[r * S + c] : 0);
  for (let r = 0; r < S; r++) {
    for (let c = 0; c < S; c++) {
      const [x, y] = inv(c, r);
      const c0 = Math.floor(x);
      const r0 = Math.floor(y);
      const fx = x - c0;
      const fy = y - r0;
      const top = at(r0, c0) * (1 - fx) + at(r0, c0 + 1) * fx;
      const bot = at(r0 + 1, c0) * (1 - fx) + at(r0 + 1, c0 + 1) * fx;
      out[r * S + c] = top * (1 - fy) + bot * fy;
    }
  }
  return out;
}
