/**
 * Batched FMnet inference on whole frames: per frame crop/pad/resize/normalise (preprocess.ts),
 * forward in inference mode, decode, and map back to original-frame pixels.
 */
import * as tf from '@tensorflow/tfjs';
import { ParamError } from '../errors';
import { decodeKeypoints, keypointsInFrame, type DecodedKeypoints } from './decode';
import { fmnetForward } from './fmnet';
import { type CropBox, type CropTransform, cropTransform, expandBox, fullFrameBox, preprocessFrame } from './preprocess';

/** One grey frame: `data` is height x width, row-major. */
export interface PoseFrame {
  data: Uint8Array | Uint16Array | Float32Array;
  width: number;
  height: number;
}

/** Options of {@link predictPose}. */
export interface PredictOptions {
  /** Crop box for every frame (original-frame pixels, end-exclusive); default the whole frame. */
  box?: CropBox | null;
  /** Frames per forward pass (integer >= 1). Default 8. */
  batchSize?: number;
  /**
   * Fraction of the box's width/height added on each side (clamped to the frame) before cropping:
   * the model card's {@link cardInferenceExpand}, so that frames are seen at the scale the model was
   * trained on (training crops are grown by 10-30% a side). Default 0.
   */
  expand?: number;
  /**
   * Also predict each frame mirrored left-right (box mirrored with it) and average the two
   * predictions (test-time augmentation; the model must have been trained with horizontal flips, as
   * by default, on keypoints without left/right pairs). Doubles the cost. Default false.
   */
  flipAverage?: boolean;
}

/** Network input side of a model built by createFMnet. */
export function modelInputSize(model: tf.LayersModel): number {
  return model.inputs[0].shape[1] as number;
}

/**
 * The transform of each frame: `box` (or the whole frame), grown by `expand` of its size on each
 * side (clamped to the frame), onto the model's input square.
 */
export function frameTransforms(frames: readonly PoseFrame[], inputSize: number, box?: CropBox | null, expand = 0): CropTransform[] {
  if (!(expand >= 0 && expand <= 10)) throw new ParamError('expand', expand, 'a fraction of the box per side in [0, 10]');
  return frames.map((f) => {
    const b = box ?? fullFrameBox(f.width, f.height);
    cropTransform(b, f.width, f.height, inputSize);
    return cropTransform(expand > 0 ? expandBox(b, f.width, f.height, expand) : b, f.width, f.height, inputSize);
  });
}

/** A frame mirrored left-right. */
function mirrorFrame(f: PoseFrame): PoseFrame {
  const { width: w, height: h } = f;
  const out = new Float32Array(w * h);
  for (let r = 0; r < h; r++) {
    const o = r * w;
    for (let c = 0; c < w; c++) out[o + c] = f.data[o + w - 1 - c];
  }
  return { data: out, width: w, height: h };
}

/**
 * Keypoints of N frames in original-frame pixels: x, y, likelihood each [N*K] (frame-major).
 * Frames may differ in size. Leaks no tensors.
 */
export function predictPose(model: tf.LayersModel, frames: readonly PoseFrame[], options: PredictOptions = {}): DecodedKeypoints {
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ParamError('batchSize', batchSize, 'an integer >= 1');
  if (options.flipAverage) {
    const a = predictPose(model, frames, { ...options, flipAverage: false });
    const box = options.box;
    // Mirrored frames with the box mirrored; x maps back by x -> width - 1 - x (pixel centres at integers).
    const mirrorBox = (w: number): CropBox | null => (box ? { x0: w - box.x1, x1: w - box.x0, y0: box.y0, y1: box.y1 } : null);
    const K = a.nKeypoints;
    // One call when the mirrored box is the same for every frame (no box, or equal widths).
    const groups = !box || frames.every((f) => f.width === frames[0].width) ? [frames.map((_, i) => i)] : frames.map((_, i) => [i]);
    for (const g of groups) {
      const b = predictPose(model, g.map((i) => mirrorFrame(frames[i])), { ...options, box: mirrorBox(frames[g[0]].width), flipAverage: false });
      g.forEach((i, j) => {
        for (let k = 0; k < K; k++) {
          const o = i * K + k;
          const m = j * K + k;
          a.x[o] = (a.x[o] + (frames[i].width - 1 - b.x[m])) / 2;
          a.y[o] = (a.y[o] + b.y[m]) / 2;
          a.likelihood[o] = (a.likelihood[o] + b.likelihood[m]) / 2;
        }
      });
    }
    return a;
  }
  const S = modelInputSize(model);
  const K = model.outputs[0].shape[3] as number;
  const transforms = frameTransforms(frames, S, options.box, options.expand ?? 0);
  const n = frames.length;
  const out: DecodedKeypoints = { n, nKeypoints: K, x: new Float32Array(n * K), y: new Float32Array(n * K), likelihood: new Float32Array(n * K) };
  for (let lo = 0; lo < n; lo += batchSize) {
    const hi = Math.min(n, lo + batchSize);
    const pixels = new Float32Array((hi - lo) * S * S);
    for (let i = lo; i < hi; i++) {
      const f = frames[i];
      pixels.set(preprocessFrame(Float32Array.from(f.data), f.width, f.height, transforms[i]), (i - lo) * S * S);
    }
    const x = tf.tensor4d(pixels, [hi - lo, S, S, 1]);
    const maps = fmnetForward(model, x);
    const kp = keypointsInFrame(decodeKeypoints(maps), transforms.slice(lo, hi));
    tf.dispose([x, ...Object.values(maps)]);
    out.x.set(kp.x, lo * K);
    out.y.set(kp.y, lo * K);
    out.likelihood.set(kp.likelihood, lo * K);
  }
  return out;
}
