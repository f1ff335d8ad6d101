/**
 * pandas DataFrames in HDF5 (PyTables), as DeepLabCut stores them (`CollectedData_<scorer>.h5`,
 * key `df_with_missing`; older Facemap pose files use the same table). Two layouts:
 *
 * - fixed (`to_hdf(..., format='fixed')`, DLC's labelled data; read and written). Group attributes
 *   pandas_type='frame', nblocks, axis0_variety='multi', axis1_variety='regular'|'multi', and:
 *     axis0_level<i>  string [nLevelValues]  column MultiIndex level values (attr name='scorer', ...)
 *     axis0_label<i>  int    [nCols]         codes into level i
 *     axis1           string|int64 [nRows]   row index (attr kind='string'|'integer'),
 *                     or axis1_level<i>/axis1_label<i> for a MultiIndex
 *     block<b>_values float64 [nRows, nItems] (attr transposed=1), block<b>_items_*: its columns
 * - table (`format='table'`, DLC's video predictions; read only): dataset `table`, records
 *   (index, values_block_0[nCols]); column names in the pickled attribute `non_index_axes`.
 */
import { FormatError } from '../../errors';
import { openH5, writeH5, type H5AttrValue, type H5Reader, type H5Writer } from '../../io/hdf5';
import type { DlcColumn, DlcTable } from './dlc';
import { unpickle } from './pickle';

/** DLC's key for labelled and predicted tables. */
export const DLC_KEY = 'df_with_missing';

function str(v: H5AttrValue | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (Array.isArray(v) && v.length === 1) return str(v[0]);
  return typeof v === 'string' ? v : ArrayBuffer.isView(v) ? new TextDecoder().decode(v as Uint8Array) : String(v);
}

/** The groups of `file` that hold pandas frames (have a `pandas_type` attribute). */
function frameGroups(r: H5Reader): string[] {
  return r.list('/').filter((e) => e.kind === 'group' && str(r.attrs(e.path).pandas_type) !== undefined).map((e) => e.path);
}

/** Index values of `key` (`axis0`, `axis1`, `block0_items`): one array of level values per entry. */
function readIndex(r: H5Reader, group: string, key: string): { parts: string[][]; names: (string | undefined)[] } {
  const attrs = r.attrs(group);
  const variety = str(attrs[`${key}_variety`]);
  const values = (p: string): string[] =>
    str(r.attrs(p).kind) === 'string' || r.info(p).dtype.includes('S') || !/int|float/.test(r.info(p).dtype)
      ? r.readStrings(p)
      : Array.from(r.read(p).data as ArrayLike<number | bigint>, (v) => String(v));
  if (variety === 'regular') {
    const p = `${group}/${key}`;
    return { parts: values(p).map((v) => [v]), names: [str(r.attrs(p).name)] };
  }
  if (variety !== 'multi') throw new FormatError(r.file, `${group}: ${key}_variety = ${String(variety)}; expected 'regular' or 'multi'`);
  const nLevels = Number(attrs[`${key}_nlevels`]);
  const levels: string[][] = [];
  const codes: ArrayLike<number | bigint>[] = [];
  const names: (string | undefined)[] = [];
  for (let i = 0; i < nLevels; i++) {
    const lp = `${group}/${key}_level${i}`;
    levels.push(values(lp));
    names.push(str(r.attrs(lp).name));
    codes.push(r.read(`${group}/${key}_label${i}`).data as ArrayLike<number | bigint>);
  }
  const n = nLevels ? codes[0].length : 0;
  const parts = Array.from({ length: n }, (_, j) =>
    levels.map((lev, i) => {
      const c = Number(codes[i][j]);
      return c < 0 ? '' : lev[c];
    }),
  );
  return { parts, names };
}

function toColumns(parts: string[][], names: (string | undefined)[], file: string): DlcColumn[] {
  const n = parts[0]?.length ?? names.length;
  const at = (name: string, fallback: number): number => {
    const i = names.indexOf(name);
    return i >= 0 ? i : fallback;
  };
  if (n !== 3 && n !== 4) throw new FormatError(file, `columns have ${n} levels; expected 3 (scorer, bodyparts, coords) or 4 (with individuals)`);
  const s = at('scorer', 0);
  const b = at('bodyparts', n - 2);
  const c = at('coords', n - 1);
  const ind = n === 4 ? at('individuals', 1) : -1;
  return parts.map((p) => ({ scorer: p[s], bodypart: p[b], coord: p[c], ...(ind >= 0 ? { individual: p[ind] } : {}) }));
}

function readFixed(r: H5Reader, group: string): DlcTable {
  const cols = readIndex(r, group, 'axis0');
  const rows = readIndex(r, group, 'axis1');
  const nC = cols.parts.length;
  const nR = rows.parts.length;
  const colAt = new Map(cols.parts.map((p, j) => [p.join('\u0000'), j]));
  const values = new Float64Array(nR * nC).fill(NaN);
  const nBlocks = Number(r.attrs(group).nblocks ?? 0);
  for (let b = 0; b < nBlocks; b++) {
    const items = readIndex(r, group, `block${b}_items`).parts;
    const vp = `${group}/block${b}_values`;
    const a = r.read(vp);
    if (!/float|int/.test(r.info(vp).dtype)) throw new FormatError(r.file, `${vp} is ${r.info(vp).dtype}; expected numbers`);
    const transposed = Number(r.attrs(vp).transposed ?? 0) !== 0;
    const [d0, d1] = a.shape;
    const shapeOk = transposed ? d0 === nR && d1 === items.length : d0 === items.length && d1 === nR;
    if (!shapeOk) throw new FormatError(r.file, `${vp} has shape [${a.shape.join(', ')}]; expected ${nR} rows x ${items.length} columns`);
    items.forEach((it, i) => {
      const j = colAt.get(it.join('\u0000'));
      if (j === undefined) throw new FormatError(r.file, `${group}: block ${b} column (${it.join(', ')}) is not among the frame's columns`);
      for (let row = 0; row < nR; row++) values[row * nC + j] = Number(a.data[transposed ? row * d1 + i : i * d1 + row]);
    });
  }
  return { columns: toColumns(cols.parts, cols.names, r.file), index: rows.parts, values };
}

function readTable(r: H5Reader, group: string): DlcTable {
  const attrs = r.attrs(group);
  const nonIndex = unpickle(str(attrs.non_index_axes) ?? '', r.file) as unknown[];
  // [(1, [col tuples])]: the axis-1 entry lists the columns, in order.
  const colList = (nonIndex.find((e) => Array.isArray(e) && e[0] === 1) as unknown[] | undefined)?.[1];
  if (!Array.isArray(colList)) throw new FormatError(r.file, `${group}: attribute non_index_axes does not list the columns`);
  const info = unpickle(str(attrs.info) ?? '(dp0\n.', r.file) as Record<string, unknown>;
  const colNames = ((info?.[1] as Record<string, unknown> | undefined)?.names as (string | undefined)[] | undefined) ?? [];
  const parts = colList.map((t) => (Array.isArray(t) ? t.map(String) : [String(t)]));
  const rec = r.readCompound(`${group}/table`);
  const iIndex = rec.fields.indexOf('index');
  const blocks = rec.fields.map((f, i) => [f, i] as const).filter(([f]) => f.startsWith('values_block_'));
  if (iIndex < 0 || blocks.length === 0) throw new FormatError(r.file, `${group}/table has fields ${rec.fields.join(', ')}; expected index and values_block_0`);
  const blockCols = blocks.map(([f]) => {
    const kind = unpickle(str(r.attrs(`${group}/table`)[`${f}_kind`]) ?? '', r.file);
    return (kind as unknown[]).map((t) => (Array.isArray(t) ? t.map(String) : [String(t)]).join('\u0000'));
  });
  const colAt = new Map(parts.map((p, j) => [p.join('\u0000'), j]));
  const nC = parts.length;
  const values = new Float64Array(rec.rows.length * nC).fill(NaN);
  rec.rows.forEach((row, i) => {
    blocks.forEach(([, fi], b) => {
      const vals = row[fi] as ArrayLike<number>;
      blockCols[b].forEach((key, c) => {
        const j = colAt.get(key);
        if (j !== undefined) values[i * nC + j] = Number(vals[c]);
      });
    });
  });
  const index = rec.rows.map((row) => [String(row[iIndex])]);
  return { columns: toColumns(parts, colNames, r.file), index, values };
}

/** Reads the pandas frame at `key` (default: `df_with_missing`, else the file's only frame). */
export async function readPandasH5Table(file: string, key?: string): Promise<DlcTable> {
  const r = await openH5(file);
  try {
    const groups = frameGroups(r);
    const group = key ? `/${key.replace(/^\//, '')}` : groups.includes(`/${DLC_KEY}`) ? `/${DLC_KEY}` : groups.length === 1 ? groups[0] : null;
    if (!group || !r.has(group)) {
      throw new FormatError(file, `no pandas frame${key ? ` at '${key}'` : ` '${DLC_KEY}'`} (found: ${groups.join(', ') || 'none'})`);
    }
    const type = str(r.attrs(group).pandas_type);
    if (type === 'frame') return readFixed(r, group);
    if (type === 'frame_table') return readTable(r, group);
    throw new FormatError(file, `${group}: pandas_type = ${String(type)}; expected 'frame' or 'frame_table'`);
  } finally {
    r.close();
  }
}

function codesArray(codes: number[], nLevels: number): Int8Array | Int16Array | Int32Array {
  return nLevels < 128 ? Int8Array.from(codes) : nLevels < 32768 ? Int16Array.from(codes) : Int32Array.from(codes);
}

function writeIndex(w: H5Writer, group: string, key: string, parts: string[][], names: string[] | null): void {
  if (!names) {
    const p = `${group}/${key}`;
    const numeric = parts.every((x) => /^-?\d+$/.test(x[0]));
    if (numeric) w.writeDataset(p, BigInt64Array.from(parts, (x) => BigInt(x[0])), [parts.length]);
    else w.writeStrings(p, parts.map((x) => x[0]));
    w.setAttr(p, 'kind', numeric ? 'integer' : 'string');
    w.setAttr(p, 'transposed', 1);
    w.setAttr(group, `${key}_variety`, 'regular');
    return;
  }
  names.forEach((name, i) => {
    const level: string[] = [];
    const at = new Map<string, number>();
    const codes = parts.map((x) => {
      let c = at.get(x[i]);
      if (c === undefined) {
        c = level.length;
        at.set(x[i], c);
        level.push(x[i]);
      }
      return c;
    });
    const lp = `${group}/${key}_level${i}`;
    w.writeStrings(lp, level);
    w.setAttr(lp, 'kind', 'string');
    w.setAttr(lp, 'name', name);
    w.setAttr(lp, 'transposed', 1);
    const cp = `${group}/${key}_label${i}`;
    w.writeDataset(cp, codesArray(codes, level.length), [codes.length]);
    w.setAttr(cp, 'transposed', 1);
  });
  w.setAttr(group, `${key}_variety`, 'multi');
  w.setAttr(group, `${key}_nlevels`, names.length);
}

/**
 * Writes `table` as a pandas fixed-format frame at `key` (default `df_with_missing`), as
 * `DataFrame.to_hdf(file, key)` does: readable by pandas and DeepLabCut. Atomic.
 */
export async function writePandasH5Table(file: string, table: DlcTable, key = DLC_KEY): Promise<void> {
  const hasInd = table.columns.some((c) => c.individual !== undefined);
  const names = hasInd ? ['scorer', 'individuals', 'bodyparts', 'coords'] : ['scorer', 'bodyparts', 'coords'];
  const colParts = table.columns.map((c) => (hasInd ? [c.scorer, c.individual ?? 'single', c.bodypart, c.coord] : [c.scorer, c.bodypart, c.coord]));
  const rowParts = table.index.map((p) => [p.join('/')]);
  await writeH5(file, (w) => {
    const g = `/${key.replace(/^\//, '')}`;
    w.createGroup(g);
    for (const [k, v] of Object.entries({ pandas_type: 'frame', pandas_version: '0.15.2', encoding: 'UTF-8', errors: 'strict' })) w.setAttr(g, k, v);
    w.setAttr(g, 'ndim', 2);
    w.setAttr(g, 'nblocks', 1);
    writeIndex(w, g, 'axis0', colParts, names);
    writeIndex(w, g, 'axis1', rowParts, null);
    writeIndex(w, g, 'block0_items', colParts, names);
    const vp = `${g}/block0_values`;
    w.writeDataset(vp, table.values, [table.index.length, table.columns.length]);
    w.setAttr(vp, 'transposed', 1);
  });
}
