/**
 * Shapes of labelled frames (hand labels for training) and keypoint traces (predictions for every
 * frame of a video), and of the file-format adaptors that read and write them.
 */

/** Facemap's 15 default keypoints, in its output order. */
export const FACEMAP_KEYPOINTS = [
  'eye(back)',
  'eye(bottom)',
  'eye(front)',
  'eye(top)',
  'lowerlip',
  'mouth',
  'nose(bottom)',
  'nose(r)',
  'nose(tip)',
  'nose(top)',
  'nosebridge',
  'paw',
  'whisker(I)',
  'whisker(III)',
  'whisker(II)',
] as const;

export type FacemapKeypoint = (typeof FACEMAP_KEYPOINTS)[number];

/** Keypoint traces in original-frame pixels: x, y, likelihood each nFrames x nKeypoints, row-major. */
export interface KeypointTraces {
  names: string[];
  nFrames: number;
  x: Float32Array;
  y: Float32Array;
  likelihood: Float32Array;
}

/** One labelled frame. */
export interface LabelFrame {
  /**
   * The image file, relative to {@link LabelSet.root} (forward slashes, as written in the label
   * file) or absolute. For labels of video frames (SLEAP), the video file, with {@link frameIndex}.
   */
  image: string;
  /** Frame number (0-based) within the video `image`; absent for image files. */
  frameIndex?: number;
  /** nKeypoints values, px (0 = left edge of the first pixel's centre column, as DLC/Facemap), NaN = missing. */
  x: Float32Array;
  /** nKeypoints values, px, NaN = missing. */
  y: Float32Array;
  /** nKeypoints confidences 0..1 for machine-labelled frames; absent for hand labels. */
  likelihood?: Float32Array;
}

/** A set of labelled frames, all with the same keypoints. */
export interface LabelSet {
  /** Keypoint names, in file order; `frames[i].x[k]` belongs to `keypoints[k]`. */
  keypoints: string[];
  frames: LabelFrame[];
  /** Who labelled them (DeepLabCut's `scorer` header); written as 'facemap-ts' when absent. */
  scorer?: string;
  /** Folder the relative image paths resolve against (a DLC project folder: the one holding `labeled-data/`). */
  root: string;
}

/**
 * A file-format adaptor. `canRead` looks at the extension and, where cheap, the first bytes;
 * `read` throws FormatError naming the file; `write` (absent for read-only formats) writes
 * atomically.
 */
export interface FormatAdaptor<T, R = object, W = object> {
  name: string;
  /** Lower-case extensions with the dot, e.g. ['.csv']. */
  extensions: string[];
  canRead(file: string): boolean;
  read(file: string, options?: R): Promise<T>;
  write?(file: string, value: T, options?: W): Promise<void>;
}
