/**
 * FMnet's training loss (facemap.md section 1). Per visible keypoint (image i, keypoint k):
 *   L_ik = sum_cells |hm_true - hm_pred| + 0.5 * sum_cells mask * sqrt(dRow^2 + dCol^2)
 * with dRow, dCol the offset errors and mask = 1 within sigma of the keypoint. The loss is the mean
 * of L_ik over visible (i, k) pairs; NaN-labelled keypoints contribute nothing (0 if none visible).
 * In training mode the predicted heatmap is first normalised per map: 10 * hm / (1e-4 + sum hm),
 * so that it matches the target's sum of 10 whatever the network's scale.
 */
import * as tf from '@tensorflow/tfjs';
import { ShapeError } from '../errors';
import type { FMnetOutput } from './fmnet';
import { HEATMAP_SUM, type PoseTargetTensors } from './targets';

/** Weight of the offset term. */
export const OFFSET_WEIGHT = 0.5;

/** Below this squared offset error the gradient of the Euclidean norm is cut (sqrt is not differentiable at 0). */
const MIN_SQ = 1e-12;

/**
 * Scalar loss of predictions against targets (all maps [N, G, G, K], visible [N, K]).
 * `normalizeHeatmap`: apply the training-mode normalisation (default true). Caller owns the scalar.
 */
export function fmnetLoss(pred: FMnetOutput, target: PoseTargetTensors, options: { normalizeHeatmap?: boolean } = {}): tf.Scalar {
  const shape = target.heatmap.shape;
  for (const [name, t] of Object.entries(pred) as [string, tf.Tensor][]) {
    if (t.shape.join() !== shape.join()) throw new ShapeError(`prediction ${name} has shape [${t.shape}]; targets have [${shape}]`);
  }
  return tf.tidy(() => {
    let hm: tf.Tensor = pred.heatmap;
    if (options.normalizeHeatmap ?? true) hm = hm.mul(HEATMAP_SUM).div(hm.sum([1, 2], true).add(1e-4));
    const hmErr = target.heatmap.sub(hm).abs().sum([1, 2]); // [N, K]
    const dr = pred.rowOffset.sub(target.rowOffset);
    const dc = pred.colOffset.sub(target.colOffset);
    const dist = dr.square().add(dc.square()).maximum(MIN_SQ).sqrt();
    const offErr = dist.mul(target.offsetMask).sum([1, 2]); // [N, K]
    const perKeypoint = hmErr.add(offErr.mul(OFFSET_WEIGHT)).mul(target.visible);
    return perKeypoint.sum().div(target.visible.sum().maximum(1)) as tf.Scalar;
  });
}
