/** Labelled frames and keypoint traces: data model, file formats (DeepLabCut, SLEAP, Facemap), validation, training arrays. */
export { FACEMAP_KEYPOINTS } from './types';
export type { FacemapKeypoint, FormatAdaptor, KeypointTraces, LabelFrame, LabelSet } from './types';
export { LABEL_FORMATS, TRACE_FORMATS, readLabels, readTraces, writeLabels, writeTraces } from './registry';
export type { LabelReadOptions, WriteOptions } from './registry';
export { guessRoot, labelsToTable, tableToLabels, tableToTraces, tracesToTable } from './dlc';
export type { DlcColumn, DlcTable } from './dlc';
export { formatFloat32, parseCsv, readDlcCsvTable, writeDlcCsvTable } from './dlc-csv';
export { DLC_KEY, readPandasH5Table, writePandasH5Table } from './pandas-h5';
export { readSleapLabels } from './sleap';
export { readPoseH5, writePoseH5 } from './facemap-h5';
export { imagePath, pngSize, validateLabels } from './validate';
export type { LabelReport, OutOfBounds, ValidateOptions } from './validate';
export { kFold, labelsToArrays } from './arrays';
export type { Fold, LabelArrays } from './arrays';
