/**
 * DeepLabCut's CSV (`CollectedData_<scorer>.csv`, or `<video>DLC_<model>.csv` predictions):
 *
 *   scorer,AVS,AVS,...            header rows, first cell names the level; `individuals` in
 *   bodyparts,eye_top,eye_top,...  multi-animal files
 *   coords,x,y,...                 x, y (and likelihood in machine-labelled files)
 *   labeled-data/vid/img01.png,589.02,70.61,...   one row per frame; empty cell = missing
 *
 * DLC >= 2.3 writes the image index as three columns (`labeled-data,vid,img01.png`), with the
 * header rows padded by empty cells: both forms are read. The classic one-column form is written.
 * Numbers are written as the shortest decimal that reads back as the same float32.
 */
import * as fs from 'node:fs';
import { FormatError } from '../../errors';
import { assertReadableFile, writeFileAtomicSync } from '../../util/fsx';
import type { DlcColumn, DlcTable } from './dlc';

/** Splits CSV text into rows of cells (RFC 4180 quoting; CRLF or LF line ends). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (cell.length > 0 || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows.filter((r) => r.length > 1 || r[0] !== '');
}

function csvCell(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Shortest decimal text that parses back to the same float32 as `v`; '' for NaN. */
export function formatFloat32(v: number): string {
  if (Number.isNaN(v)) return '';
  const f = Math.fround(v);
  if (f !== v) return String(v);
  for (let p = 1; p < 10; p++) {
    const s = Number(f.toPrecision(p));
    if (Math.fround(s) === f) return String(s);
  }
  return String(f);
}

const LEVELS = ['scorer', 'individuals', 'bodyparts', 'coords'];

/** Reads a DLC CSV into a table; FormatError naming the file and line when the layout is off. */
export function readDlcCsvTable(file: string): DlcTable {
  assertReadableFile(file, 'a DeepLabCut CSV');
  const rows = parseCsv(fs.readFileSync(file, 'utf8'));
  const header: Record<string, string[]> = {};
  let h = 0;
  while (h < rows.length && LEVELS.includes(rows[h][0]) && !(rows[h][0] in header)) {
    header[rows[h][0]] = rows[h];
    h++;
  }
  const { scorer, bodyparts, coords } = header;
  if (!scorer || !bodyparts || !coords) {
    throw new FormatError(file, `expected header rows 'scorer', 'bodyparts' and 'coords' (DeepLabCut CSV); found first cells ${JSON.stringify(rows.slice(0, 4).map((r) => r[0]))}`);
  }
  let nIndex = 1;
  while (nIndex < scorer.length && scorer[nIndex] === '') nIndex++;
  const width = scorer.length;
  for (const [level, r] of Object.entries(header)) {
    if (r.length !== width) throw new FormatError(file, `header row '${level}' has ${r.length} cells; 'scorer' has ${width}`);
  }
  const columns: DlcColumn[] = [];
  for (let j = nIndex; j < width; j++) {
    const c: DlcColumn = { scorer: scorer[j], bodypart: bodyparts[j], coord: coords[j] };
    if (header.individuals) c.individual = header.individuals[j];
    columns.push(c);
  }
  const nC = columns.length;
  const body = rows.slice(h);
  const values = new Float64Array(body.length * nC);
  const index = body.map((r, i) => {
    if (r.length !== width) throw new FormatError(file, `line ${h + i + 1} has ${r.length} cells; expected ${width}`);
    for (let j = 0; j < nC; j++) {
      const cell = r[nIndex + j].trim();
      const v = cell === '' || /^nan$/i.test(cell) ? NaN : Number(cell);
      if (cell !== '' && Number.isNaN(v) && !/^nan$/i.test(cell)) {
        throw new FormatError(file, `line ${h + i + 1}, column ${nIndex + j + 1}: '${cell}' is not a number`);
      }
      values[i * nC + j] = v;
    }
    return r.slice(0, nIndex);
  });
  return { columns, index, values };
}

/** Writes a table as a classic DLC CSV (one index column), atomically. */
export function writeDlcCsvTable(file: string, table: DlcTable): void {
  const hasInd = table.columns.some((c) => c.individual !== undefined);
  const lines = [
    ['scorer', ...table.columns.map((c) => c.scorer)],
    ...(hasInd ? [['individuals', ...table.columns.map((c) => c.individual ?? 'single')]] : []),
    ['bodyparts', ...table.columns.map((c) => c.bodypart)],
    ['coords', ...table.columns.map((c) => c.coord)],
  ].map((r) => r.map(csvCell).join(','));
  const nC = table.columns.length;
  table.index.forEach((parts, i) => {
    const cells = [csvCell(parts.join('/'))];
    for (let j = 0; j < nC; j++) cells.push(formatFloat32(table.values[i * nC + j]));
    lines.push(cells.join(','));
  });
  writeFileAtomicSync(file, `${lines.join('\n')}\n`);
}
