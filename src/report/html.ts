/**
 * The HTML report page: a title, run settings, and sections of plotly figures, tables and text,
 * in one self-contained file (plotly.js inlined once, no network).
 */
import { figureHtml, plotlyScriptTag, type Figure } from '../plot/notebook';

/** One block of a section. */
export type ReportBlock =
  | { kind: 'figure'; figure: Figure; height?: number; caption?: string }
  | { kind: 'table'; rows: Record<string, unknown>[]; caption?: string; digits?: number }
  | { kind: 'text'; text: string };

export interface ReportSection {
  /** Anchor id (letters, digits, dashes). */
  id: string;
  title: string;
  /** Where the section's numbers came from (file paths, relative to the report's folder). */
  sources: string[];
  blocks: ReportBlock[];
}

export interface ReportPage {
  title: string;
  /** Settings shown at the top (command, seed, backend, versions, timings...). */
  settings: Record<string, unknown>;
  sections: ReportSection[];
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function cell(v: unknown, digits: number): string {
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return '–';
    if (Number.isInteger(v)) return String(v);
    return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toFixed(digits);
  }
  if (v === null || v === undefined) return '–';
  if (typeof v === 'object') return esc(JSON.stringify(v));
  return esc(String(v));
}

/** An HTML table of rows (columns: the union of the rows' keys, in first-seen order). */
export function tableHtml(rows: Record<string, unknown>[], options: { caption?: string; digits?: number } = {}): string {
  const cols: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  const digits = options.digits ?? 3;
  const head = cols.map((c) => `<th>${esc(c)}</th>`).join('');
  const body = rows.map((r) => `<tr>${cols.map((c) => `<td${typeof r[c] === 'number' ? ' class="num"' : ''}>${cell(r[c], digits)}</td>`).join('')}</tr>`).join('\n');
  return `<table class="fm-table">${options.caption ? `<caption>${esc(options.caption)}</caption>` : ''}<thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#fafbfc}
header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.8;font-size:13px}
nav{padding:10px 28px;background:#eef1f5;font-size:14px}nav a{margin-right:16px;color:#2a5db0;text-decoration:none}
main{padding:8px 28px 40px;max-width:1200px}section{background:#fff;border:1px solid #e3e7ee;border-radius:6px;padding:14px 18px;margin:16px 0}
section h2{margin:0 0 6px;font-size:18px}.sources{font-size:12px;color:#68707d;margin:0 0 10px}
.fm-table{border-collapse:collapse;font-size:13px;margin:8px 0 14px}.fm-table caption{text-align:left;font-weight:600;padding:4px 0}
.fm-table th,.fm-table td{border-bottom:1px solid #e3e7ee;padding:3px 10px;text-align:left}.fm-table td.num{text-align:right;font-variant-numeric:tabular-nums}
.caption{font-size:13px;color:#454c57;margin:2px 0 14px}.settings td:first-child{font-weight:600}
`;

/** The whole page as one HTML string. */
export function renderReport(page: ReportPage): string {
  const nav = page.sections.map((s) => `<a href="#${esc(s.id)}">${esc(s.title)}</a>`).join('');
  const settingsRows = Object.entries(page.settings).map(([k, v]) => ({ setting: k, value: typeof v === 'object' && v !== null ? JSON.stringify(v) : v }));
  const sections = page.sections
    .map((s) => {
      const blocks = s.blocks
        .map((b) => {
          if (b.kind === 'figure') return `${figureHtml(b.figure, { height: b.height })}${b.caption ? `<p class="caption">${esc(b.caption)}</p>` : ''}`;
          if (b.kind === 'table') return tableHtml(b.rows, { caption: b.caption, digits: b.digits });
          return `<p>${esc(b.text)}</p>`;
        })
        .join('\n');
      const sources = s.sources.length ? `<p class="sources">from ${s.sources.map(esc).join(', ')}</p>` : '';
      return `<section id="${esc(s.id)}"><h2>${esc(s.title)}</h2>${sources}\n${blocks}\n</section>`;
    })
    .join('\n');
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${esc(page.title)}</title>`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<style>${STYLE}</style>`,
    plotlyScriptTag(),
    '</head><body>',
    `<header><h1>${esc(page.title)}</h1><p>facemap-ts report · ${page.sections.length} sections · ${page.sections.reduce((a, s) => a + s.blocks.filter((b) => b.kind === 'figure').length, 0)} figures</p></header>`,
    `<nav>${nav}</nav>`,
    '<main>',
    settingsRows.length ? `<section id="settings"><h2>Run settings</h2>${tableHtml(settingsRows).replace('class="fm-table"', 'class="fm-table settings"')}</section>` : '',
    sections,
    '</main></body></html>',
  ].join('\n');
}
