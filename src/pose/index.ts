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
  FramePreprocessor,
  cropPadResize,
  cropTransform,
  DEFAULT_EXPAND_RANGE,
  expandBox,
  fullFrameBox,
  inferenceExpand,
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
export { decodeKeypoints, decodeMaps, keypointsInFrame } from './decode';
export type { DecodedKeypoints, RawMaps } from './decode';
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
  modelFromCheckpoint,
  loadLabelledFrames,
  resolvePoseTrainConfig,
  trainPoseModel,
  trainValSplit,
} from './train';
export type { CheckpointModel, EpochRecord, LabelledFrames, PoseTrainConfig, PoseTrainEngine, PoseTrainResult, ResolvedPoseTrainConfig, TrainOptions, TrainProgress } from './train';
export { BOX_CONVENTION, NORMALISATION, cardImagePaths, cardInferenceExpand, facemapTsVersion, folderHandler, loadModel, modelFolderFingerprint, readModelCard, saveModel } from './model-io';
export type { ModelCard } from './model-io';
export { crossValidate, evaluateModelDir, evaluatePose } from './evaluate';
export type { CrossValidateOptions, CrossValidationResult, EvaluateOptions, EvaluationResult } from './evaluate';
export { FastBatchNorm, fastBatchNorm, isBatchNormLayer } from './fast-batchnorm';
export { readCheckpoint, runFingerprint, writeCheckpoint } from './checkpoint';
export { OrtFMnetStep, buildFMnetTrainGraph, ortStepSupport } from './ort-train';
export type { OrtStepResult } from './ort-train';
export type { CheckpointState } from './checkpoint';
export { ONNX_FILE, ONNX_META, exportOnnx, fmnetToOnnx, onnxForFolder, onnxMetadata } from './onnx-export';
export { ONNX_INT8_FILE, ONNX_INT8_META, calibrationFrames, exportOnnxInt8, int8OnnxForFolder, quantizeFmnet } from './onnx-int8';
export type { CalibrationSet, Int8ExportResult, Int8Model, Int8Options } from './onnx-int8';
export type { FolderOnnx, OnnxExport, OnnxExportOptions, OnnxExportResult } from './onnx-export';
export { EnginePool, OnnxInlineEngine, OnnxWorkerEngine, TfjsEngine, openPoseEngine } from './pose-engine';
export type { InferResult, OpenedEngine, PoseEngine, PoseEngineKind, PoseEngineOptions, PosePrecision } from './pose-engine';
export { trackOutputs, trackVideos, writeFilteredTraces } from './track';
export type { TrackMetadata, TrackOptions, TrackOutputs, TrackedVideo } from './track';
export {
  FILTER_DEFAULTS,
  confidenceOutliers,
  filterOutliers,
  filterTraces,
  gaussianFilter1d,
  nanMedianFilter,
  resolveFilterConfig,
} from './filters';
export type { ConfidenceFilterConfig, FilterReport, OutlierFilterConfig, TraceFilterConfig } from './filters';
export { drawDisc, labelVideo } from './label-video';
export type { LabelVideoOptions } from './label-video';
