/**
 * ONNX Runtime sessions (onnxruntime-node), for bulk inference and big linear algebra.
 *
 * Synchronous runs. `InferenceSession.run` of the public API is async, but only because its
 * session handler defers the call with `setImmediate`: the native binding
 * (`onnxruntime-node/dist/binding`, class `binding.InferenceSession` with `loadModel` and `run`)
 * computes synchronously on the calling thread (MLAS then uses its own intra-op thread pool).
 * The handler keeps the native session in a private field, so it cannot be reached from an
 * `InferenceSession`; instead `createSession` builds its own native session through the
 * binding, which gives `runSync` (usable inside a tfjs kernel) and `run` (deferred like the
 * public API). Tensors passed to and returned by the binding are the public `Tensor` class
 * (`binding.initOrtOnce` is given that constructor). The binding path is not a public API of
 * onnxruntime-node (checked against 1.30.0): if it ever fails to load, `createSessionAsync`
 * falls back to the public `InferenceSession` (then `sync` is false and `runSync` throws).
 *
 * Execution providers: CUDA first when its provider library ships next to the binding
 * (`libonnxruntime_providers_cuda.so`, absent from the npm package unless the CUDA binaries were
 * installed), then CPU. A failed CUDA attempt falls back to CPU silently; `session.provider` and
 * `ortInfo()` report which one is used.
 *
 * `FACEMAP_ORT=off` makes ONNX Runtime unavailable to this process (as if it could not load): every
 * user falls back (linalg to JS, tracking to tfjs), which is also how those fallbacks are tested.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as OrtModule from 'onnxruntime-node';
import type * as BindingModule from 'onnxruntime-node/dist/binding';
import { EngineError, ParamError } from '../errors';
import { matmulModel } from './onnx-build';

export type OrtProvider = 'cuda' | 'cpu';
export type OrtTensor = OrtModule.Tensor;
export type Feeds = Record<string, OrtTensor>;
export type Results = Record<string, OrtTensor>;

/** Session options; every field has a default. */
export interface OrtSessionOptions {
  /** Intra-op threads; default `os.availableParallelism()`. */
  threads?: number;
  /** Providers to try, in order; default ['cuda', 'cpu']. */
  providers?: readonly OrtProvider[];
  /** Graph optimisation level; default 'all'. */
  graphOptimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Whether idle intra-op threads spin waiting for work (ORT's default, true) or sleep at once
   * (false: less CPU burnt between runs, e.g. while a pipeline waits for input).
   */
  spinning?: boolean;
}

interface Loaded {
  ort: typeof OrtModule;
  binding: (typeof BindingModule)['binding'] | null;
  bindingError: string | null;
  binDir: string;
}

let loaded: Loaded | null = null;
let loadError: string | null = null;

function load(): Loaded | null {
  if (loaded || loadError) return loaded;
  if (/^(off|0|false|no)$/i.test(process.env.FACEMAP_ORT ?? '')) {
    loadError = `disabled by FACEMAP_ORT=${process.env.FACEMAP_ORT}`;
    return null;
  }
  try {
    // Required lazily: where the native library cannot load, importing this module must still
    // work so that linalg can fall back to JS.
    const ort = require('onnxruntime-node') as typeof OrtModule;
    const binDir = path.join(
      path.dirname(require.resolve('onnxruntime-node/package.json')),
      'bin',
      'napi-v6',
      process.platform,
      process.arch,
    );
    let binding: Loaded['binding'] = null;
    let bindingError: string | null = null;
    try {
      const b = require('onnxruntime-node/dist/binding') as typeof BindingModule;
      b.initOrt();
      binding = b.binding;
    } catch (e) {
      bindingError = (e as Error).message;
    }
    loaded = { ort, binding, bindingError, binDir };
  } catch (e) {
    loadError = (e as Error).message;
  }
  return loaded;
}

function requireOrt(): Loaded {
  const l = load();
  if (!l) throw new EngineError(`onnxruntime-node could not be loaded: ${loadError}`);
  return l;
}

/** True when onnxruntime-node and its native library load on this machine. */
export function ortAvailable(): boolean {
  return load() !== null;
}

function cudaLibraryPresent(l: Loaded): boolean {
  const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  return fs.existsSync(path.join(l.binDir, lib));
}

function resolveOptions(opts: OrtSessionOptions): { threads: number; providers: OrtProvider[]; level: string; spinning: boolean } {
  const threads = opts.threads ?? os.availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new ParamError('threads', threads, 'an integer >= 1');
  const providers = [...(opts.providers ?? ['cuda', 'cpu'])];
  for (const p of providers) {
    if (p !== 'cuda' && p !== 'cpu') throw new ParamError('providers', providers, "a list of 'cuda' | 'cpu'");
  }
  if (providers.length === 0) throw new ParamError('providers', providers, 'at least one provider');
  return { threads, providers, level: opts.graphOptimization ?? 'all', spinning: opts.spinning ?? true };
}

type Runner = { sync: true; run: (f: Feeds, outputs?: Feeds) => Results } | { sync: false; run: (f: Feeds) => Promise<Results> };

/** One loaded model on one execution provider. */
export class OrtSession {
  /** @internal use createSession / createSessionAsync */
  constructor(
    private readonly runner: Runner,
    private readonly release: () => void,
    readonly provider: OrtProvider,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
    readonly threads: number,
  ) {}

  /** Whether `runSync` is available (native binding path). */
  get sync(): boolean {
    return this.runner.sync;
  }

  /**
   * Runs the model on the calling thread and returns every output. `outputs` optionally gives
   * preallocated tensors (by output name) that ONNX Runtime writes into in place; the result
   * then still holds those names, but read the preallocated buffers themselves.
   */
  runSync(feeds: Feeds, outputs?: Feeds): Results {
    if (!this.runner.sync) {
      throw new EngineError('this ONNX Runtime session has no synchronous run (native binding unavailable)');
    }
    return this.runner.run(feeds, outputs);
  }

  /** Runs the model after yielding to the event loop once, like the public API. */
  run(feeds: Feeds): Promise<Results> {
    const r = this.runner;
    if (!r.sync) return r.run(feeds);
    return new Promise((resolve, reject) =>
      setImmediate(() => {
        try {
          resolve(r.run(feeds));
        } catch (e) {
          reject(e);
        }
      }),
    );
  }

  dispose(): void {
    this.release();
  }
}

function ortSessionOptions(provider: OrtProvider, o: ReturnType<typeof resolveOptions>): OrtModule.InferenceSession.SessionOptions {
  return {
    executionProviders: provider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    intraOpNumThreads: o.threads,
    graphOptimizationLevel: o.level as OrtModule.InferenceSession.SessionOptions['graphOptimizationLevel'],
    extra: { session: { intra_op: { allow_spinning: o.spinning ? '1' : '0' } } },
  };
}

function candidates(l: Loaded, providers: OrtProvider[]): OrtProvider[] {
  return providers.filter((p) => p !== 'cuda' || cudaLibraryPresent(l));
}

function noProvider(providers: OrtProvider[], errors: string[]): EngineError {
  return new EngineError(
    `no ONNX Runtime execution provider could load the model (tried ${providers.join(', ')}): ${errors.join('; ') || 'none available'}`,
  );
}

/**
 * Creates a session synchronously through the native binding.
 * @param model path of an .onnx file, or the model's bytes.
 * @throws EngineError when ORT or its binding is unavailable, or no provider loads the model.
 */
export function createSession(model: string | Uint8Array, opts: OrtSessionOptions = {}): OrtSession {
  const l = requireOrt();
  const o = resolveOptions(opts);
  const b = l.binding;
  if (!b) throw new EngineError(`onnxruntime-node's native binding is unavailable: ${l.bindingError}`);
  const errors: string[] = [];
  for (const provider of candidates(l, o.providers)) {
    try {
      const s = new b.InferenceSession();
      const so = ortSessionOptions(provider, o);
      if (typeof model === 'string') s.loadModel(model, so);
      else s.loadModel(model.buffer as ArrayBuffer, model.byteOffset, model.byteLength, so);
      return new OrtSession(
        {
          sync: true,
          run: (feeds, outputs) =>
            s.run(feeds, Object.fromEntries(s.outputMetadata.map((m) => [m.name, outputs?.[m.name] ?? null])), {}) as Results,
        },
        () => s.dispose(),
        provider,
        s.inputMetadata.map((m) => m.name),
        s.outputMetadata.map((m) => m.name),
        o.threads,
      );
    } catch (e) {
      errors.push(`${provider}: ${(e as Error).message}`);
    }
  }
  throw noProvider(o.providers, errors);
}

/**
 * Creates a session without blocking the event loop first; uses the native binding when it
 * loads (sessions then also have `runSync`), else the public `InferenceSession`.
 */
export async function createSessionAsync(model: string | Uint8Array, opts: OrtSessionOptions = {}): Promise<OrtSession> {
  const l = requireOrt();
  await new Promise<void>((r) => setImmediate(r));
  if (l.binding) return createSession(model, opts);
  const o = resolveOptions(opts);
  const errors: string[] = [];
  for (const provider of candidates(l, o.providers)) {
    try {
      const so = ortSessionOptions(provider, o);
      const s =
        typeof model === 'string'
          ? await l.ort.InferenceSession.create(model, so)
          : await l.ort.InferenceSession.create(model, so);
      return new OrtSession(
        { sync: false, run: (feeds) => s.run(feeds) as Promise<Results> },
        () => void s.release(),
        provider,
        s.inputNames,
        s.outputNames,
        o.threads,
      );
    } catch (e) {
      errors.push(`${provider}: ${(e as Error).message}`);
    }
  }
  throw noProvider(o.providers, errors);
}

const cache = new Map<string, OrtSession>();

/**
 * A session kept for the life of the process under `key` (one per key and options): building
 * and optimising a graph costs milliseconds, a run of a small model microseconds.
 */
export function cachedSession(key: string, build: () => Uint8Array, opts: OrtSessionOptions = {}): OrtSession {
  const o = resolveOptions(opts);
  const full = `${key}|${o.threads}|${o.providers.join(',')}|${o.level}|${o.spinning}`;
  let s = cache.get(full);
  if (!s) {
    s = createSession(build(), opts);
    cache.set(full, s);
  }
  return s;
}

/** Disposes every cached session (tests, or before process exit). */
export function clearSessionCache(): void {
  for (const s of cache.values()) s.dispose();
  cache.clear();
}

/** A float32 tensor over `data` (no copy). `data.length` must equal the product of `dims`. */
export function float32Tensor(data: Float32Array, dims: readonly number[]): OrtTensor {
  return new (requireOrt().ort.Tensor)('float32', data, [...dims]);
}

export function float64Tensor(data: Float64Array, dims: readonly number[]): OrtTensor {
  return new (requireOrt().ort.Tensor)('float64', data, [...dims]);
}

/** What `ortInfo` reports. */
export interface OrtInfo {
  available: boolean;
  /** onnxruntime-node version, e.g. '1.30.0'. */
  version: string | null;
  /** Provider that a default session gets on this machine ('cuda' or 'cpu'). */
  provider: OrtProvider | null;
  /** Providers the package lists as usable on this platform (bundled or not). */
  listedProviders: string[];
  /** Whether the CUDA provider library is installed next to the binding. */
  cudaLibrary: boolean;
  /** Whether sessions can run synchronously (native binding path). */
  syncRun: boolean;
  /** Default intra-op threads. */
  threads: number;
  /** Why ORT, or its binding, did not load. */
  error: string | null;
}

let probed: OrtProvider | null | undefined;

/** Version, providers and threads of ONNX Runtime here; probes once with a tiny matmul model. */
export function ortInfo(): OrtInfo {
  const l = load();
  const threads = os.availableParallelism();
  if (!l) {
    return { available: false, version: null, provider: null, listedProviders: [], cudaLibrary: false, syncRun: false, threads, error: loadError };
  }
  if (probed === undefined) {
    try {
      probed = cachedSession('matmul', () => matmulModel()).provider;
    } catch {
      probed = null;
    }
  }
  const listed = l.binding ? l.binding.listSupportedBackends().map((b) => b.name) : [];
  return {
    available: true,
    version: l.ort.env.versions.node ?? l.ort.env.versions.common,
    provider: probed,
    listedProviders: listed,
    cudaLibrary: cudaLibraryPresent(l),
    syncRun: l.binding !== null,
    threads,
    error: l.bindingError,
  };
}
