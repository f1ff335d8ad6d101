/** facemap-ts public API: explicit re-exports, one block per stage. */
export * from './errors';
export { writeAtomic, writeFileAtomicSync } from './util/fsx';
export * from './engine';
export * from './io';
export { Rng } from './util/random';
export * from './plot';
export * from './synth';
export { progressBar, type ProgressBar } from './util/progress';
export * from './pose';
export * from './motion';
export * from './neural';
export * from './report';
