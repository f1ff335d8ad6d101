/** Neural prediction: recordings, alignment and splits, PCA targets, the keypoint encoder, linear baselines, metrics, tables, clusters. */
export { memorySource, h5Source, npySource, subsetRows, defaultBlockNeurons, copyToNpy, type ActivitySource, type CopyToNpyOptions } from './source';
export {
  readRecording,
  recordingFromArrays,
  readKeypointMatrix,
  readLatentMatrix,
  checkTimestamps,
  findNonFinite,
  assertFiniteActivity,
  type Recording,
  type ReadRecordingOptions,
  type BehaviorMatrix,
  type NonFiniteReport,
} from './recording';
export {
  facemapSplit,
  cameraTimes,
  gaussianSmoothColumns,
  interpolateRows,
  behaviorAtNeuralTimes,
  nearestCameraFrames,
  frameToNeural,
  columnStats,
  zscoreColumns,
  type Split,
  type SplitOptions,
  type BehaviorAtNeuralOptions,
} from './align';
export { normStats, readNormalizedRows, normalizedOperator, neuralPCA, predictNeurons, type NormStats, type NeuralPCA, type NeuralPCAOptions } from './pca';
export { RidgeRegression, ReducedRankRegression, takeRows, type RidgeConfig, type RRRConfig } from './regression';
export {
  varianceExplained,
  neuronVarianceExplained,
  finiteMean,
  normalizedVarianceExplained,
  checkerboardHalves,
  explainableVariance,
  type VarianceExplained,
  type PeerPrediction,
  type PeerPredictionOptions,
} from './metrics';
export { behaviorFeatures, runLinearBaseline, type LinearBaselineOptions, type LinearBaselineResult } from './baselines';
export {
  modelRow,
  neuronRows,
  toCsv,
  writeCsv,
  splitJson,
  writeResultTables,
  writeResultTablesH5,
  type ModelRow,
  type NeuronRow,
  type ScoredModel,
} from './tables';
export {
  KeypointEncoder,
  DEFAULT_ENCODER_CONFIG,
  ENCODER_WEIGHT_NAMES,
  resolveEncoderConfig,
  gaborFilters,
  encoderWindows,
  validationSplit,
  type EncoderConfig,
  type EncoderInput,
  type EncoderData,
  type EncoderWindow,
  type EncoderEpoch,
  type EncoderFitOptions,
  type EncoderTraining,
} from './encoder';
export {
  runEncode,
  encodeContext,
  readTimesNpy,
  ENCODE_STEPS,
  type EncodeOptions,
  type EncodeContext,
  type EncodeStep,
} from './analysis';
export {
  NeuronClusters,
  DEFAULT_CLUSTER_CONFIG,
  resolveClusterConfig,
  scaledKMeans,
  orderBySimilarity,
  pathSimilarity,
  normalizeRows,
  pcScores,
  adjustedRandIndex,
  clusterCoherence,
  nullCoherence,
  mergeClusters,
  mergeCost,
  type NullCoherenceOptions,
  type ClusterConfig,
  type ClusterAssignment,
  type ScaledKMeansResult,
} from './clusters';
export {
  analyzeClusters,
  clusterSpread,
  chanceSpread,
  pcPrediction,
  bootstrapCorrelation,
  correlation,
  ranks,
  type ModelPrediction,
  type PcPrediction,
  type NeuronPrediction,
  type SortedRaster,
  type ClusterAnalysis,
  type ClusterAnalysisOptions,
  type CorrelationCI,
} from './cluster-analysis';
export { clusterRows, writeClusterTables, modelKey, type ClusterTableInput } from './cluster-tables';
export { readEncodingFolder, writeEncodingFolder, type EncodingFolder, type EncodingFolderInput } from './encoding-io';
export { clusterRecording, clusterStep, withReadProgress, PCA_PASSES, type ClusterRecordingOptions, type ClusterRecordingResult, type ClusterStepOptions } from './cluster-run';
