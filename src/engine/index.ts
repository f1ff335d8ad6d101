/** Compute engines: tfjs backend choice and kernels, ONNX Runtime sessions, big-matrix algebra. */
export {
  BACKEND_ORDER,
  backendInfo,
  describeBackend,
  initBackend,
  parseBackendChoice,
  probeBackend,
  type BackendChoice,
  type BackendInfo,
} from './backend';
export {
  WASM_GRADIENT_KERNELS,
  installCpuGradientFixes,
  installWasmGradientKernels,
  uninstallWasmGradientKernels,
  wasmGradientKernelsInstalled,
} from './gradient-kernels';
export {
  NotPositiveDefiniteError,
  cholesky,
  gramSvd,
  gramRangeFinder,
  choleskySolve,
  matmul,
  matrix,
  measureMatmulGflops,
  orthonormalizeColumns,
  randomizedSvd,
  randomizedSvdOperator,
  randomizedSvdOperatorSync,
  solveSymmetric,
  transpose,
  type CholeskyFactor,
  type CholeskyOptions,
  type LinearOperator,
  type Matrix,
  type MatmulEngine,
  type MatmulOptions,
  type OrthonormalizeOptions,
  type RandomizedSvdOptions,
  type GramSvdOptions,
  type SvdResult,
} from './linalg';
export {
  OrtSession,
  cachedSession,
  clearSessionCache,
  createSession,
  createSessionAsync,
  float32Tensor,
  ortAvailable,
  ortInfo,
  type Feeds,
  type OrtInfo,
  type OrtProvider,
  type OrtSessionOptions,
  type OrtTensor,
  type Results,
} from './onnx';
export { buildModel, matmulModel, node as onnxNode, valueInfo } from './onnx-build';
export { RangeCollector, calibrationModel, quantizationPlan, quantizeQdq, uint8Params } from './onnx-quantize';
export type { QdqOptions, QdqResult, QuantizationPlan, TensorRange } from './onnx-quantize';
export { matmulSpeeds, tfjsMatmulGflops, type MatmulSpeed } from './speed';
export {
  ORT_CONV_KERNELS,
  installOrtConvKernels,
  ortConvKernelsInstalled,
  ortConvStats,
  ortConvUnavailableReason,
  uninstallOrtConvKernels,
  type OrtConvOptions,
} from './ort-kernels';
export { BN_TRAIN_GRAD_KERNEL, BN_TRAIN_KERNEL, batchNormKernelsAvailable, installBatchNormKernels } from './batchnorm-kernels';
