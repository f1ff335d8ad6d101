/** Compute engines: tfjs backend choice and kernels, ONNX Runtime sessions, big-matrix algebra. */
export {
  BACKEND_ORDER,
  backendInfo,
  describeBackend,
  initBackend,
  parseBackendChoice,
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
