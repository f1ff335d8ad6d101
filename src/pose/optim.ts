/**
 * AdamW (Loshchilov & Hutter; PyTorch's torch.optim.AdamW arithmetic) for tf.Variables, with
 * global grad-norm clipping (PyTorch clip_grad_norm_, Facemap uses 50) and Facemap's learning-rate
 * schedule. One step with gradient g, after clipping g *= min(1, maxNorm / (||g|| + 1e-6)):
 *   p <- p * (1 - lr * weightDecay)
 *   m <- beta1 m + (1 - beta1) g;   v <- beta2 v + (1 - beta2) g^2
 *   p <- p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
 */
import * as tf from '@tensorflow/tfjs';
import { ParamError, ShapeError } from '../errors';

export interface AdamWConfig {
  /** Learning rate (> 0). Default 1e-4 (Facemap's fine-tuning default). */
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (>= 0). Default 0 (Facemap's fine-tuning default). */
  weightDecay?: number;
  /** Max global L2 norm of the gradients; Infinity disables clipping. Default 50. */
  clipNorm?: number;
}

function resolve(c: AdamWConfig): Required<AdamWConfig> {
  const r = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, clipNorm: 50, ...c };
  if (!(r.lr > 0)) throw new ParamError('lr', r.lr, 'a number > 0');
  for (const k of ['beta1', 'beta2'] as const) if (!(r[k] >= 0 && r[k] < 1)) throw new ParamError(k, r[k], 'a number in [0, 1)');
  if (!(r.eps > 0)) throw new ParamError('eps', r.eps, 'a number > 0');
  if (!(r.weightDecay >= 0)) throw new ParamError('weightDecay', r.weightDecay, 'a number >= 0');
  if (!(r.clipNorm > 0)) throw new ParamError('clipNorm', r.clipNorm, 'a number > 0 (Infinity: no clipping)');
  return r;
}

/**
 * Facemap's schedule: base lr, divided by 10 for epochs [nEpochs-6, nEpochs-3) and by 25 for the
 * last 3 (epoch is 0-based).
 */
export function facemapLearningRate(epoch: number, nEpochs: number, baseLr: number): number {
  if (!Number.isInteger(epoch) || epoch < 0) throw new ParamError('epoch', epoch, 'an integer >= 0');
  if (!Number.isInteger(nEpochs) || nEpochs < 1) throw new ParamError('nEpochs', nEpochs, 'an integer >= 1');
  if (epoch >= nEpochs - 3) return baseLr / 25;
  if (epoch >= nEpochs - 6) return baseLr / 10;
  return baseLr;
}

/** AdamW over a fixed list of variables. Holds 2 moment tensors per variable until dispose(). */
export class AdamW {
  readonly config: Readonly<Required<AdamWConfig>>;
  /** Current learning rate; set it each epoch (e.g. from {@link facemapLearningRate}). */
  lr: number;
  /** Steps taken. */
  t = 0;
  /** Global gradient norm of the last step, before clipping. */
  lastGradNorm = NaN;
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];

  constructor(
    readonly variables: tf.Variable[],
    config: AdamWConfig = {},
  ) {
    this.config = resolve(config);
    this.lr = this.config.lr;
    const zeros = (): tf.Variable[] => tf.tidy(() => variables.map((p) => tf.variable(tf.zerosLike(p), false)));
    this.m = zeros();
    this.v = zeros();
  }

  /**
   * Applies one update. grads: one tensor per variable, in order, or a map keyed by variable name
   * (as tf.variableGrads returns). The caller still owns (and disposes) the gradients.
   */
  step(grads: tf.Tensor[] | tf.NamedTensorMap): void {
    const list = Array.isArray(grads) ? grads : this.variables.map((p) => grads[p.name]);
    if (list.length !== this.variables.length) throw new ShapeError(`${list.length} gradients for ${this.variables.length} variables`);
    list.forEach((g, i) => {
      if (!g) throw new ShapeError(`no gradient for variable ${this.variables[i].name}`);
      if (g.shape.join() !== this.variables[i].shape.join()) {
        throw new ShapeError(`gradient ${i} has shape [${g.shape}]; variable ${this.variables[i].name} has [${this.variables[i].shape}]`);
      }
    });
    if (!(this.lr > 0)) throw new ParamError('lr', this.lr, 'a number > 0');
    const { beta1, beta2, eps, weightDecay, clipNorm } = this.config;
    this.t += 1;
    const bc1 = 1 - beta1 ** this.t;
    const bc2 = 1 - beta2 ** this.t;
    tf.tidy(() => {
      const norm = tf.sqrt(tf.addN(list.map((g) => g.square().sum())));
      this.lastGradNorm = norm.dataSync()[0];
      const coef = Math.min(1, clipNorm / (this.lastGradNorm + 1e-6));
      this.variables.forEach((p, i) => {
        const g = coef < 1 ? list[i].mul(coef) : list[i];
        const m = this.m[i].mul(beta1).add(g.mul(1 - beta1));
        const v = this.v[i].mul(beta2).add(g.square().mul(1 - beta2));
        this.m[i].assign(m);
        this.v[i].assign(v);
        const decayed = weightDecay > 0 ? p.mul(1 - this.lr * weightDecay) : p;
        const update = m.div(bc1).div(v.div(bc2).sqrt().add(eps)).mul(this.lr);
        p.assign(decayed.sub(update));
      });
    });
  }

  /** Step count and moment estimates, copied out (for checkpoints). */
  exportState(): { t: number; m: Float32Array[]; v: Float32Array[] } {
    return { t: this.t, m: this.m.map((x) => x.dataSync() as Float32Array).map((a) => a.slice()), v: this.v.map((x) => x.dataSync() as Float32Array).map((a) => a.slice()) };
  }

  /** Restores {@link exportState}'s output; shapes must match the variables. */
  importState(state: { t: number; m: Float32Array[]; v: Float32Array[] }): void {
    if (state.m.length !== this.m.length || state.v.length !== this.v.length) {
      throw new ShapeError(`optimizer state has ${state.m.length} moments for ${this.m.length} variables`);
    }
    state.m.forEach((a, i) => {
      if (a.length !== this.m[i].size || state.v[i].length !== this.v[i].size) throw new ShapeError(`optimizer state ${i}: ${a.length} values for variable ${this.variables[i].name} of size ${this.m[i].size}`);
      tf.tidy(() => {
        this.m[i].assign(tf.tensor(a, this.m[i].shape));
        this.v[i].assign(tf.tensor(state.v[i], this.v[i].shape));
      });
    });
    this.t = state.t;
  }

  /** Frees the moment tensors. */
  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}
