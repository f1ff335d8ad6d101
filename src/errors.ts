/**
 * Typed errors. Every message says what was given, what was expected and, where a file is
 * involved, which file, so that a user reading one line knows what to fix.
 */

/** Base class: lets callers catch every facemap-ts error with one `instanceof`. */
export class FacemapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A configuration value is out of range or of the wrong kind. */
export class ParamError extends FacemapError {
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly expected: string,
  ) {
    super(`${field} = ${formatValue(value)} is invalid: expected ${expected}`);
  }
}

/** Arrays or tensors whose shapes do not fit together. */
export class ShapeError extends FacemapError {}

/** A file is missing, unreadable, truncated or not in the format expected. */
export class FormatError extends FacemapError {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

/** `predict`/`transform` was called on an estimator before `fit`. */
export class NotFittedError extends FacemapError {
  constructor(what: string) {
    super(`${what} is not fitted yet: call fit() first`);
  }
}

/** A compute engine (backend, ONNX Runtime, ffmpeg) is missing or failed. */
export class EngineError extends FacemapError {}

/** Long work was stopped on request (an AbortSignal, Ctrl-C); nothing half-written is left. */
export class InterruptedError extends FacemapError {}

function formatValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(formatValue).join(', ')}]`;
  return String(v);
}
