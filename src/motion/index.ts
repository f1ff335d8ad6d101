/** Motion energy, motion/movie SVDs, ROIs, pupil, blink and running (Facemap's `process`). */
export * from './rois';
export * from './source';
export * from './svd';
export * from './proc';
export * from './pupil';
export * from './running';
