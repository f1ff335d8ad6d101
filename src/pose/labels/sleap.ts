/**
 * SLEAP labels (`.slp`, HDF5; read only). The parts read:
 *   /metadata            attrs: format_id (float), json (JSON text: `nodes` [{name}], `skeletons`
 *                        [{nodes: [{id: index into nodes}]}], `videos` [{backend: {filename}}])
 *   /videos_json         one JSON text per video (used when metadata lacks `videos`)
 *   /frames              records frame_id, video, frame_idx, instance_id_start, instance_id_end
 *   /instances           records instance_id, instance_type (0 = user, 1 = predicted), frame_id,
 *                        skeleton, ..., point_id_start, point_id_end
 *   /points              records x, y, visible, complete (user instances; f8 px)
 * Each labelled frame becomes one LabelFrame (image = the video file, frameIndex = frame_idx) with
 * its first user instance; frames with only predicted instances are skipped. Keypoints are the
 * first skeleton's nodes in skeleton order; invisible points are NaN. Files with format_id < 1.1
 * used pixel-corner coordinates and are shifted by -0.5 px to SLEAP's (and DLC's) pixel centres.
 * Images embedded in `.pkg.slp` files are not read.
 */
import * as path from 'node:path';
import { FormatError } from '../../errors';
import { withH5, type H5Reader } from '../../io/hdf5';
import type { LabelFrame, LabelSet } from './types';

interface SleapJson {
  nodes?: { name: string }[];
  skeletons?: { nodes: { id: number | { 'py/id': number } }[] }[];
  videos?: { backend?: { filename?: string }; filename?: string }[];
}

function records(r: H5Reader, p: string, need: string[]): { get: (row: unknown[], f: string) => number; rows: unknown[][] } {
  if (!r.has(p)) throw new FormatError(r.file, `no dataset '${p}' (expected SLEAP labels)`);
  const { fields, rows } = r.readCompound(p);
  const at = new Map(fields.map((f, i) => [f, i]));
  for (const f of need) if (!at.has(f)) throw new FormatError(r.file, `${p} has no field '${f}' (fields: ${fields.join(', ')})`);
  return { rows, get: (row, f) => Number(row[at.get(f) as number]) };
}

function parseJson(text: string | undefined, file: string, what: string): unknown {
  try {
    return JSON.parse(text ?? '');
  } catch (e) {
    throw new FormatError(file, `${what} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Reads the user-labelled frames of a SLEAP `.slp` file. */
export async function readSleapLabels(file: string): Promise<LabelSet> {
  return withH5(file, (r) => {
    if (!r.has('/metadata')) throw new FormatError(file, "no group 'metadata' (expected SLEAP labels)");
    const attrs = r.attrs('/metadata');
    const jsonText = Array.isArray(attrs.json) ? String(attrs.json[0]) : typeof attrs.json === 'string' ? attrs.json : ArrayBuffer.isView(attrs.json) ? new TextDecoder().decode(attrs.json as Uint8Array) : undefined;
    const meta = parseJson(jsonText, file, "attribute 'json' of /metadata") as SleapJson;
    const formatId = Number(attrs.format_id ?? 1.2);
    const nodeNames = (meta.nodes ?? []).map((n) => n.name);
    const skel = meta.skeletons?.[0];
    if (!skel) throw new FormatError(file, 'metadata lists no skeleton');
    const keypoints = skel.nodes.map((n) => {
      const i = typeof n.id === 'number' ? n.id : n.id['py/id'] - 1;
      if (!(i >= 0 && i < nodeNames.length)) throw new FormatError(file, `skeleton node id ${JSON.stringify(n.id)} is not among the ${nodeNames.length} nodes`);
      return nodeNames[i];
    });
    let videos = (meta.videos ?? []).map((v) => v.backend?.filename ?? v.filename ?? '');
    if (videos.length === 0 && r.has('/videos_json')) {
      videos = r.readStrings('/videos_json').map((t) => {
        const v = parseJson(t, file, 'an entry of /videos_json') as { backend?: { filename?: string }; filename?: string };
        return v.backend?.filename ?? v.filename ?? '';
      });
    }
    const frames = records(r, '/frames', ['frame_id', 'video', 'frame_idx', 'instance_id_start', 'instance_id_end']);
    const insts = records(r, '/instances', ['instance_type', 'skeleton', 'point_id_start', 'point_id_end']);
    const pts = records(r, '/points', ['x', 'y', 'visible']);
    const shift = formatId < 1.1 ? 0.5 : 0;
    const nK = keypoints.length;
    const out: LabelFrame[] = [];
    for (const fr of frames.rows) {
      const v = frames.get(fr, 'video');
      if (!(v >= 0 && v < videos.length)) throw new FormatError(file, `frame refers to video ${v}; the file lists ${videos.length}`);
      for (let i = frames.get(fr, 'instance_id_start'); i < frames.get(fr, 'instance_id_end'); i++) {
        const inst = insts.rows[i];
        if (!inst) throw new FormatError(file, `frame refers to instance ${i}; /instances has ${insts.rows.length}`);
        if (insts.get(inst, 'instance_type') !== 0 || insts.get(inst, 'skeleton') !== 0) continue;
        const p0 = insts.get(inst, 'point_id_start');
        if (insts.get(inst, 'point_id_end') - p0 !== nK || p0 + nK > pts.rows.length) {
          throw new FormatError(file, `instance ${i} has points ${p0}..${insts.get(inst, 'point_id_end')}; expected ${nK} (one per skeleton node) within /points`);
        }
        const f: LabelFrame = { image: videos[v], frameIndex: frames.get(fr, 'frame_idx'), x: new Float32Array(nK), y: new Float32Array(nK) };
        for (let k = 0; k < nK; k++) {
          const p = pts.rows[p0 + k];
          const visible = pts.get(p, 'visible') !== 0;
          f.x[k] = visible ? pts.get(p, 'x') - shift : NaN;
          f.y[k] = visible ? pts.get(p, 'y') - shift : NaN;
        }
        out.push(f);
        break;
      }
    }
    return { keypoints, frames: out, root: path.dirname(path.resolve(file)) };
  });
}
