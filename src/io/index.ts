/** File formats: NumPy .npy, MATLAB v5 .mat, grey PNG frames, HDF5 (h5wasm). */
export { cToFortran, fortranToC, numel } from './layout';
export type { NumericArray } from './layout';
export { encodeNpy, encodeNpyHeader, parseNpy, readNpy, toFloat64, writeNpy } from './npy';
export type { NpyArray, NpyDtype, NpyWritable, NpyWriteOptions } from './npy';
export { matNumeric, parseMat, readMat } from './mat';
export type { MatCell, MatChar, MatNumeric, MatNumericClass, MatReadOptions, MatStruct, MatValue } from './mat';
export { decodePngGrey, encodePngGrey, readPngGrey, writePngGrey } from './png';
export type { GreyDtype, GreyImage, PngReadOptions, PngWriteOptions } from './png';
export { defaultChunks, openH5, withH5, writeH5 } from './hdf5';
export type {
  H5Array,
  H5AttrInput,
  H5AttrValue,
  H5DatasetInfo,
  H5DatasetOptions,
  H5DatasetWriter,
  H5Dtype,
  H5Entry,
  H5Reader,
  H5Writer,
} from './hdf5';
export { binFrames, probeVideo, readFrame, readFrames, readFramesMulti } from './video';
export { openVideoWriter } from './video-write';
export type { VideoWriter, VideoWriterOptions } from './video-write';
export type {
  Crop,
  Frame,
  FrameChunk,
  FrameDType,
  MultiFrameChunk,
  MultiReadOptions,
  ProbeOptions,
  ReadFrameOptions,
  ReadOptions,
  VideoInfo,
} from './video';
export { locateFfmpeg } from './video';
export type { FfmpegInfo } from './ffmpeg';
