/**
 * Choosing the TensorFlow.js backend that models train and run on.
 *
 * Order: tfjs-node-gpu, tfjs-node, wasm, cpu. The first two are optional npm dependencies whose
 * install downloads libtensorflow, so on an offline machine they are simply absent. Each candidate
 * is accepted by capability, not by package name: loading it must register a working backend
 * (a package aliased to plain tfjs, as danfojs-node's override is, registers none and is skipped).
 * `FACEMAP_BACKEND=node-gpu|node|wasm|cpu` forces one; forcing an unavailable one is an error.
 * On wasm, `ortConv` (or `FACEMAP_ORT_CONV=1`) moves convolutions and their gradients to ONNX
 * Runtime: 1.5-5x faster conv kernels, opt-in while whole training steps gain little (see README).
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { EngineError, ParamError } from '../errors';
import { installCpuGradientFixes, installWasmGradientKernels } from './gradient-kernels';
import { installOrtConvKernels, ortConvUnavailableReason } from './ort-kernels';

export type BackendChoice = 'node-gpu' | 'node' | 'wasm' | 'cpu';

export const BACKEND_ORDER: readonly BackendChoice[] = ['node-gpu', 'node', 'wasm', 'cpu'];

const PACKAGES: Record<BackendChoice, string> = {
  'node-gpu': '@tensorflow/tfjs-node-gpu',
  node: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs (built-in cpu backend)',
};

/** What runs tfjs ops in this process, and why. */
export interface BackendInfo {
  /** The engine chosen. */
  choice: BackendChoice;
  /** tfjs's own name of the active backend ('tensorflow', 'wasm', 'cpu'). */
  tfjsBackend: string;
  /** npm package that provides it. */
  package: string;
  tfjsVersion: string;
  /** True when ops run on a GPU (tfjs-node-gpu with a visible CUDA device). */
  gpu: boolean;
  /** wasm only: whether the SIMD build is in use. */
  simd?: boolean;
  /** Cores on this machine (wasm runs on one of them in Node). */
  cores: number;
  /** Set when FACEMAP_BACKEND (or an explicit option) chose the backend. */
  forcedBy?: 'FACEMAP_BACKEND' | 'option';
  /** Kernels facemap-ts registered on this backend (wasm gradient kernels). */
  addedKernels: string[];
  /** wasm only: convolutions (forward and gradients) run on ONNX Runtime (opt-in, `ortConv`). */
  ortConv?: boolean;
  /** Candidates tried before this one and why each was not used. */
  skipped: { choice: BackendChoice; reason: string }[];
  /** A performance warning for the user, if any. */
  warning?: string;
}

let active: BackendInfo | undefined;

/** Parses a backend name as given by a user (env var or option). */
export function parseBackendChoice(value: string, field = 'FACEMAP_BACKEND'): BackendChoice {
  const v = value.trim().toLowerCase();
  const aliases: Record<string, BackendChoice> = { tensorflow: 'node', 'tfjs-node': 'node', 'tfjs-node-gpu': 'node-gpu', gpu: 'node-gpu' };
  const choice = (aliases[v] ?? v) as BackendChoice;
  if (!BACKEND_ORDER.includes(choice)) throw new ParamError(field, value, `one of ${BACKEND_ORDER.join(', ')}`);
  return choice;
}

interface NodeBackendLike {
  isUsingGpuDevice?: boolean;
}

async function works(): Promise<boolean> {
  const t = tf.add(tf.scalar(1), tf.scalar(2));
  const v = (await t.data())[0];
  t.dispose();
  return v === 3;
}

/**
 * Tries one candidate and makes it the active tfjs backend; resolves to null on success or to the
 * reason it cannot be used. `specifier` is the module to load (default: the candidate's package).
 */
export async function probeBackend(choice: BackendChoice, specifier: string = PACKAGES[choice]): Promise<string | null> {
  let name: string;
  if (choice === 'node-gpu' || choice === 'node') {
    try {
      require(specifier);
    } catch (err) {
      return `${specifier} is not installed or failed to load (${firstLine(err)})`;
    }
    name = 'tensorflow';
    if (!tf.findBackendFactory(name)) return `${specifier} loaded but registered no 'tensorflow' backend (not a real tfjs-node)`;
  } else if (choice === 'wasm') {
    try {
      require(PACKAGES.wasm);
    } catch (err) {
      return `${PACKAGES.wasm} failed to load (${firstLine(err)})`;
    }
    name = 'wasm';
  } else {
    name = 'cpu';
  }
  try {
    if (!(await tf.setBackend(name))) return `tfjs could not initialise the '${name}' backend`;
    await tf.ready();
    if (!(await works())) return `the '${name}' backend computed 1 + 2 wrongly`;
  } catch (err) {
    return `the '${name}' backend failed to start (${firstLine(err)})`;
  }
  if (choice === 'node-gpu' && !(tf.backend() as NodeBackendLike).isUsingGpuDevice) {
    return `${PACKAGES['node-gpu']} loaded but sees no CUDA device`;
  }
  return null;
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split('\n')[0];
}

/**
 * Picks and initialises the tfjs backend (once per process; later calls return the same info
 * unless a different backend is asked for, or `refresh` asks to choose again, e.g. after
 * installing tfjs-node). `options.backend` overrides FACEMAP_BACKEND.
 */
export async function initBackend(
  options: { backend?: BackendChoice | string; refresh?: boolean; ortConv?: boolean } = {},
): Promise<BackendInfo> {
  const envValue = process.env.FACEMAP_BACKEND;
  const forcedBy = options.backend ? 'option' : envValue ? 'FACEMAP_BACKEND' : undefined;
  const forced = options.backend
    ? parseBackendChoice(options.backend, 'backend')
    : envValue
      ? parseBackendChoice(envValue)
      : undefined;
  if (active && !options.refresh && (!forced || forced === active.choice)) return active;

  quietCpuBackend();
  const candidates = forced ? [forced] : BACKEND_ORDER;
  const skipped: BackendInfo['skipped'] = [];
  for (const choice of candidates) {
    const reason = await probeBackend(choice);
    if (reason) {
      skipped.push({ choice, reason });
      continue;
    }
    const cpuFixes = installCpuGradientFixes();
    const addedKernels = choice === 'wasm' ? installWasmGradientKernels() : choice === 'cpu' ? cpuFixes : [];
    const wantOrtConv = options.ortConv ?? process.env.FACEMAP_ORT_CONV === '1';
    let ortConv: boolean | undefined;
    if (choice === 'wasm' && wantOrtConv) {
      const ort = installOrtConvKernels();
      ortConv = ort.length > 0;
      if (!ortConv) skipped.push({ choice, reason: `convolutions stay on XNNPACK: ${ortConvUnavailableReason()}` });
    }
    active = {
      choice,
      tfjsBackend: tf.getBackend(),
      package: PACKAGES[choice],
      tfjsVersion: tf.version.tfjs,
      gpu: choice === 'node-gpu',
      simd: choice === 'wasm' ? tf.env().getBool('WASM_HAS_SIMD_SUPPORT') : undefined,
      cores: os.availableParallelism(),
      forcedBy,
      addedKernels,
      ortConv,
      skipped,
      warning:
        choice === 'cpu'
          ? 'tfjs is running on its pure-JavaScript cpu backend, about 100x slower than wasm: training will be very slow'
          : undefined,
    };
    if (active.warning) process.emitWarning(active.warning, 'FacemapPerformanceWarning');
    return active;
  }
  const why = skipped.map((s) => `${s.choice}: ${s.reason}`).join('; ');
  throw new EngineError(
    forced ? `backend '${forced}' (from ${forcedBy}) is not available here: ${why}` : `no tfjs backend could start: ${why}`,
  );
}

/**
 * tfjs's cpu backend prints a banner suggesting tfjs-node on its first use in Node; we choose the
 * backend ourselves and report it, so the banner only confuses.
 */
function quietCpuBackend(): void {
  const cpu = tf.findBackend('cpu') as { firstUse?: boolean } | null;
  if (cpu) cpu.firstUse = false;
}

/** The backend chosen by {@link initBackend}, or undefined before it ran. */
export function backendInfo(): BackendInfo | undefined {
  return active;
}

/** One line for logs and CLI output, e.g. "tfjs backend: wasm (SIMD, +2 gradient kernels)". */
export function describeBackend(info: BackendInfo): string {
  const parts: string[] = [];
  if (info.simd !== undefined) parts.push(info.simd ? 'SIMD' : 'no SIMD');
  if (info.gpu) parts.push('GPU');
  if (info.addedKernels.length) parts.push(`+${info.addedKernels.length} gradient kernels`);
  if (info.ortConv) parts.push('convolutions on ONNX Runtime');
  if (info.forcedBy) parts.push(`forced by ${info.forcedBy}`);
  return `tfjs backend: ${info.choice}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}
