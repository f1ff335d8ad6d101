/** Simulated sessions with known ground truth: behaviour latents, face video, keypoint files. */
export * from './types';
export * from './behavior';
export * from './face';
export * from './pose-h5';
export * from './neural';
export * from './session';
export * from './truth';
export * from './labelled';
