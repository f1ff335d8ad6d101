/**
 * End to end on a tiny FMnet (channels [4, 8, 8, 8, 8], 64x64 input, 16x16 maps): a few seeded AdamW
 * steps on two synthetic images with a bright blob at a known keypoint reduce the loss; keypoints
 * decode back to original-frame coordinates; no tensors leak.
 */
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  AdamW,
  createFMnet,
  cropTransform,
  decodeKeypoints,
  fmnetForward,
  fmnetTrainStep,
  fmnetTrainableVariables,
  keypointsInFrame,
  makeTargets,
  preprocessFrame,
  targetsToTensors,
  toNetworkCoords,
} from '../../src/pose';
import { useWasm } from './setup';

const [W, H] = [80, 72];
const S = 64;

function blobFrame(x: number, y: number): Float32Array {
  const f = new Float32Array(W * H);
  for (let r = 0; r < H; r++) for (let c = 0; c < W; c++) f[r * W + c] = 20 + 200 * Math.exp(-((c - x) ** 2 + (r - y) ** 2) / (2 * 3 ** 2));
  return f;
}

describe('pose: tiny FMnet training end to end', () => {
  before(useWasm);

  it('a few AdamW steps reduce the loss on two blob images, without leaking tensors', () => {
    const t = cropTransform({ x0: 4, x1: 76, y0: 0, y1: 72 }, W, H, S);
    const truth: [number, number][] = [
      [25, 30],
      [50, 44],
    ];
    const images = tf.tensor4d(
      truth.flatMap(([x, y]) => Array.from(preprocessFrame(blobFrame(x, y), W, H, t))),
      [2, S, S, 1],
    );
    const kp = Float32Array.from(truth.flatMap(([x, y]) => toNetworkCoords(t, x, y)));
    const targets = targetsToTensors(makeTargets(kp, 2, 1, S / 4));

    const model = createFMnet({ nKeypoints: 1, channels: [4, 8, 8, 8, 8], inputSize: S, seed: 7 });
    const opt = new AdamW(fmnetTrainableVariables(model), { lr: 1e-2 });
    const before = tf.memory().numTensors;
    const losses: number[] = [];
    for (let i = 0; i < 5; i++) losses.push(fmnetTrainStep(model, opt, images, targets));
    assert.equal(tf.memory().numTensors, before, 'training steps leaked tensors');
    assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
    assert.ok(losses[losses.length - 1] < 0.8 * losses[0], `loss did not fall: ${losses.map((l) => l.toFixed(3))}`);

    // Inference path: decode and map back to the frame; shapes and ranges only (5 steps do not train a net).
    const out = fmnetForward(model, images);
    const kpFrame = keypointsInFrame(decodeKeypoints(out), t);
    tf.dispose(Object.values(out));
    assert.equal(tf.memory().numTensors, before, 'inference leaked tensors');
    assert.equal(kpFrame.x.length, 2);
    assert.ok(kpFrame.likelihood.every((l) => l > 0 && l < 1));

    opt.dispose();
    model.dispose();
    tf.dispose([images, ...Object.values(targets)]);
  });
});
