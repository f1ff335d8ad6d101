/** Keypoint tracking: FMnet, preprocessing, targets, loss, decoding, augmentation, optimiser. */
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
