/**
 * Batched FMnet inference on whole frames: per frame crop/pad/resize/normalise (preprocess.ts),
 * forward in inference mode, decode, and map back to original-frame pixels.
 */
import * as tf from '@tensorflow/tfjs';
import { ParamError } from '../errors';
import { decodeKeypoints, keypointsInFrame, type DecodedKeypoints } from './decode';
import { appendMirrored, averageMirrored } from './maps';
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
   * Also predict each network input mirrored left-right and average the two predictions
   * (test-time augmentation; the model must have been trained with horizontal flips, as by
   * default, on keypoints without left/right pairs). Doubles the cost. Default false.
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

/**
 * Keypoints of N frames in original-frame pixels: x, y, likelihood each [N*K] (frame-major).
 * Frames may differ in size. Leaks no tensors.
 */
export function predictPose(model: tf.LayersModel, frames: readonly PoseFrame[], options: PredictOptions = {}): DecodedKeypoints {
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ParamError('batchSize', batchSize, 'an integer >= 1');
  const S = modelInputSize(model);
  const K = model.outputs[0].shape[3] as number;
  const transforms = frameTransforms(frames, S, options.box, options.expand ?? 0);
  const n = frames.length;
  const out: DecodedKeypoints = { n, nKeypoints: K, x: new Float32Array(n * K), y: new Float32Array(n * K), likelihood: new Float32Array(n * K) };
  for (let lo = 0; lo < n; lo += batchSize) {
    const hi = Math.min(n, lo + batchSize);
    const m = hi - lo;
    const copies = options.flipAverage ? 2 : 1;
    const pixels = new Float32Array(copies * m * S * S);
    for (let i = lo; i < hi; i++) {
      const f = frames[i];
      pixels.set(preprocessFrame(Float32Array.from(f.data), f.width, f.height, transforms[i]), (i - lo) * S * S);
    }
    if (options.flipAverage) appendMirrored(pixels, m, S);
    const x = tf.tensor4d(pixels, [copies * m, S, S, 1]);
    const maps = fmnetForward(model, x);
    const decoded = decodeKeypoints(maps);
    const kp = keypointsInFrame(options.flipAverage ? averageMirrored(decoded, m, S) : decoded, transforms.slice(lo, hi));
    tf.dispose([x, ...Object.values(maps)]);
    out.x.set(kp.x, lo * K);
    out.y.set(kp.y, lo * K);
    out.likelihood.set(kp.likelihood, lo * K);
  }
  return out;
}
