/** Figure builders shared by notebooks, the HTML report and static export. */
import { ShapeError } from '../errors';
import type { Figure } from './notebook';

/**
 * A grey image as a plotly heatmap, y axis pointing down as in image coordinates.
 * frame: height x width, row-major, any numeric range (shown 0..255 unless `zmax` is given).
 */
export function imageFigure(
  frame: ArrayLike<number>,
  height: number,
  width: number,
  options: { title?: string; zmin?: number; zmax?: number; points?: { x: number[]; y: number[]; text?: string[] } } = {},
): Figure {
  if (frame.length !== height * width) {
    throw new ShapeError(`image has ${frame.length} values, expected height x width = ${height} x ${width} = ${height * width}`);
  }
  const z: number[][] = [];
  for (let r = 0; r < height; r++) z.push(Array.from({ length: width }, (_, c) => frame[r * width + c]));
  const data: object[] = [
    { type: 'heatmap', z, colorscale: [[0, 'rgb(0,0,0)'], [1, 'rgb(255,255,255)']], zmin: options.zmin ?? 0, zmax: options.zmax ?? 255, showscale: false },
  ];
  if (options.points) {
    data.push({ type: 'scatter', mode: 'markers', x: options.points.x, y: options.points.y, text: options.points.text, marker: { size: 7, color: '#e4572e' } });
  }
  return {
    data,
    layout: {
      title: options.title ? { text: options.title } : undefined,
      yaxis: { autorange: 'reversed', scaleanchor: 'x', constrain: 'domain', showgrid: false },
      xaxis: { constrain: 'domain', showgrid: false },
      margin: { l: 40, r: 10, t: options.title ? 40 : 10, b: 30 },
    },
  };
}

/** A horizontal bar chart of named numbers, e.g. GFLOP/s per engine. */
export function barFigure(values: Record<string, number>, options: { title?: string; unit?: string } = {}): Figure {
  const names = Object.keys(values);
  return {
    data: [{ type: 'bar', orientation: 'h', y: names, x: names.map((n) => values[n]), text: names.map((n) => values[n].toFixed(1)), textposition: 'auto' }],
    layout: {
      title: options.title ? { text: options.title } : undefined,
      xaxis: { title: { text: options.unit ?? '' } },
      yaxis: { automargin: true },
      margin: { l: 10, r: 10, t: options.title ? 40 : 10, b: 40 },
    },
  };
}
