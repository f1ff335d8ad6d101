/**
 * Linear baselines end to end: behaviour features at neural times (keypoints smoothed,
 * interpolated and z-scored; motion/movie SVDs or any time x features matrix), a ridge or RRR
 * fit on the split's train samples, and VE on its test samples for the PCs and (streaming) for
 * every neuron.
 */
import { Matrix, matrix } from '../engine/linalg';
import { ShapeError } from '../errors';
import { Split } from '../synth/splits';
import { behaviorAtNeuralTimes, cameraTimes, zscoreColumns } from './align';
import { neuronVarianceExplained, varianceExplained, VarianceExplained } from './metrics';
import { NeuralPCA } from './pca';
import { ReducedRankRegression, RidgeRegression, RidgeConfig, RRRConfig, takeRows } from './regression';
import { BehaviorMatrix } from './recording';
import { ActivitySource } from './source';

/**
 * Behaviour features for linear models at the neural timestamps: smoothed (sigma = ceil(nCam /
 * nNeural / 4) frames), interpolated and z-scored per column (over all samples).
 * @param camTimesS camera frame times, s (default frame / beh.fps; required when beh has no fps).
 * @returns neuralTimes.length x beh.nFeatures.
 */
export function behaviorFeatures(beh: BehaviorMatrix, neuralTimes: ArrayLike<number>, camTimesS?: ArrayLike<number>): Matrix {
  const cam = camTimesS ?? (beh.fps ? cameraTimes(beh.nFrames, beh.fps) : null);
  if (!cam) throw new ShapeError(`${beh.file}: no camera rate in the file; pass camera times`);
  if (cam.length !== beh.nFrames) throw new ShapeError(`${beh.file}: ${beh.nFrames} behaviour frames but ${cam.length} camera times`);
  const x = behaviorAtNeuralTimes(beh.data, cam, neuralTimes);
  return matrix(neuralTimes.length, beh.nFeatures, zscoreColumns(x, neuralTimes.length, beh.nFeatures));
}

export interface LinearBaselineOptions {
  model: 'ridge' | 'rrr';
  /** Name of the input (e.g. 'keypoints', 'motion SVD', 'true features'), for tables. */
  input: string;
  ridge?: Partial<RidgeConfig>;
  rrr?: Partial<RRRConfig>;
  /** When given (with the PCA's stats), neurons are scored too, streaming over blocks. */
  activity?: ActivitySource;
  blockNeurons?: number;
}

/** A fitted baseline and its test scores. */
export interface LinearBaselineResult {
  model: 'ridge' | 'rrr';
  input: string;
  /** RRR rank or ridge lambda chosen. */
  rank?: number;
  lambda: number;
  fitted: RidgeRegression | ReducedRankRegression;
  /** split.test.length x k predicted PC time courses. */
  Yhat: Matrix;
  /** VE of the PCs on test samples. */
  pcVe: VarianceExplained;
  /** nNeurons VE on test samples (when activity was given). */
  neuronVe?: Float32Array;
  split: Split;
}

/**
 * Fits a ridge or RRR baseline from X (nTime x features, at neural times) to the PCs of `pca`
 * on `split.train` and scores it on `split.test`.
 */
export function runLinearBaseline(X: Matrix, pca: NeuralPCA, split: Split, opts: LinearBaselineOptions): LinearBaselineResult {
  if (X.rows !== pca.Y.rows) throw new ShapeError(`X has ${X.rows} time points, the neural PCs ${pca.Y.rows}`);
  const Xtr = takeRows(X, split.train);
  const Ytr = takeRows(pca.Y, split.train);
  let rrrConfig = opts.rrr;
  if (opts.model === 'rrr' && opts.rrr?.lambda === undefined) {
    // RRR's penalty: the ridge penalty chosen by validation on the same training samples (a fixed
    // tiny penalty lets many correlated inputs, e.g. 500 SVD components on a few hundred samples,
    // extrapolate wildly on the test segments).
    rrrConfig = { ...opts.rrr, lambda: new RidgeRegression(opts.ridge).fit(Xtr, Ytr).lambda };
  }
  const fitted = opts.model === 'ridge' ? new RidgeRegression(opts.ridge) : new ReducedRankRegression(rrrConfig);
  fitted.fit(Xtr, Ytr);
  const Yhat = fitted.predict(takeRows(X, split.test));
  const pcVe = varianceExplained(pca.Y, Yhat, split.test);
  const neuronVe = opts.activity ? neuronVarianceExplained(opts.activity, pca.stats, pca.U, Yhat, split.test, opts.blockNeurons) : undefined;
  return {
    model: opts.model,
    input: opts.input,
    rank: fitted instanceof ReducedRankRegression ? fitted.rank : undefined,
    lambda: fitted instanceof ReducedRankRegression ? fitted.config.lambda : fitted.lambda,
    fitted,
    Yhat,
    pcVe,
    neuronVe,
    split,
  };
}
