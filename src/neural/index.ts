/** Neural prediction: recordings, alignment and splits, PCA targets, linear baselines, metrics, tables, clusters. */
export { memorySource, h5Source, npySource, subsetRows, defaultBlockNeurons, type ActivitySource } from './source';
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
export { modelRow, neuronRows, toCsv, writeCsv, splitJson, writeResultTables, type ModelRow, type NeuronRow } from './tables';
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
export { clusterRecording, withReadProgress, PCA_PASSES, type ClusterRecordingOptions, type ClusterRecordingResult } from './cluster-run';
