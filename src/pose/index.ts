/** Keypoint tracking: FMnet, preprocessing, targets, loss, decoding, augmentation, optimiser, training, evaluation, model folders. */
export {
  FMNET_CHANNELS,
  TorchMaxPool2d,
  countTrainableParams,
  createFMnet,
  fmnetForward,
  fmnetKeypoints,
  fmnetTrainableVariables,
  resolveFMnetConfig,
} from './fmnet';
export type { FMnetConfig, FMnetOutput } from './fmnet';
export {
  cropPadResize,
  cropTransform,
  fullFrameBox,
  keypointsToFrame,
  normalizeBatch,
  normalizeFrame,
  preprocessBatch,
  preprocessFrame,
  toFrameCoords,
  toNetworkCoords,
} from './preprocess';
export type { CropBox, CropTransform } from './preprocess';
export { HEATMAP_SIGMA, HEATMAP_STRIDE, HEATMAP_SUM, OFFSET_SCALE, makeTargets, targetsToTensors } from './targets';
export type { PoseTargetTensors, PoseTargets } from './targets';
export { OFFSET_WEIGHT, fmnetLoss } from './loss';
export { decodeKeypoints, keypointsInFrame } from './decode';
export type { DecodedKeypoints } from './decode';
export { augmentSample } from './augment';
export type { AugmentConfig, AugmentedSample } from './augment';
export { AdamW, facemapLearningRate } from './optim';
export type { AdamWConfig } from './optim';
export { fmnetTrainStep } from './train-step';
export * from './labels';
export { frameTransforms, modelInputSize, predictPose } from './predict';
export type { PoseFrame, PredictOptions } from './predict';
export { keypointErrors, poseMetrics, quantile } from './metrics';
export type { ErrorSummary, MetricOptions, PoseMetrics } from './metrics';
export {
  FINE_TUNE_DEFAULTS,
  HEAD_LAYERS,
  TRAIN_DEFAULTS,
  adaptHeads,
  fineTune,
  fineTuneModel,
  loadLabelledFrames,
  resolvePoseTrainConfig,
  trainPoseModel,
  trainValSplit,
} from './train';
export type { EpochRecord, LabelledFrames, PoseTrainConfig, PoseTrainResult, ResolvedPoseTrainConfig, TrainOptions, TrainProgress } from './train';
export { BOX_CONVENTION, NORMALISATION, facemapTsVersion, folderHandler, loadModel, saveModel } from './model-io';
export type { ModelCard } from './model-io';
export { crossValidate, evaluateModelDir, evaluatePose } from './evaluate';
export type { CrossValidateOptions, CrossValidationResult, EvaluateOptions, EvaluationResult } from './evaluate';
export { FastBatchNorm, fastBatchNorm, isBatchNormLayer } from './fast-batchnorm';
export { readCheckpoint, runFingerprint, writeCheckpoint } from './checkpoint';
export type { CheckpointState } from './checkpoint';
