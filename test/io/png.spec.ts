import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { FormatError, ShapeError } from '../../src/errors';
import { decodePngGrey, encodePngGrey, readPngGrey, writePngGrey } from '../../src/io/png';
import { sharedOrSkip } from '../helpers/shared';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fm-png-'));
}

function rgbPng(width: number, height: number, rgb: (p: number) => [number, number, number]): Buffer {
  const png = new PNG({ width, height });
  for (let p = 0; p < width * height; p++) {
    png.data.set([...rgb(p), 255], p * 4);
  }
  return PNG.sync.write(png, { colorType: 2 });
}

describe('io/png', () => {
  it('round-trips 8-bit and 16-bit grey images (H x W row-major)', () => {
    const dir = tmpDir();
    const [h, w] = [5, 7];
    const g8 = Uint8Array.from({ length: h * w }, (_, i) => (i * 37) % 256);
    writePngGrey(path.join(dir, 'a.png'), g8, h, w);
    const r8 = readPngGrey(path.join(dir, 'a.png'));
    assert.deepEqual([r8.height, r8.width, r8.bitDepth], [h, w, 8]);
    assert.deepEqual(r8.data, g8);
    const g16 = Uint16Array.from({ length: h * w }, (_, i) => (i * 1877) % 65536);
    writePngGrey(path.join(dir, 'b.png'), g16, h, w);
    const r16 = readPngGrey(path.join(dir, 'b.png'), { dtype: 'uint16' });
    assert.equal(r16.bitDepth, 16);
    assert.deepEqual(r16.data, g16);
    const f = readPngGrey(path.join(dir, 'b.png'), { dtype: 'float32' });
    assert.ok(f.data instanceof Float32Array);
    assert.deepEqual(Array.from(f.data), Array.from(g16));
    assert.deepEqual(Array.from(readPngGrey(path.join(dir, 'b.png')).data), Array.from(g16, (v) => Math.round(v / 257)));
    assert.deepEqual(Array.from(readPngGrey(path.join(dir, 'a.png'), { dtype: 'uint16' }).data), Array.from(g8, (v) => v * 257));
  });

  it('writes float32 rounded and clamped', () => {
    const bytes = encodePngGrey(new Float32Array([-3, 0.4, 0.6, 300]), 2, 2);
    assert.deepEqual(Array.from(decodePngGrey(bytes, 'mem').data), [0, 0, 1, 255]);
    assert.throws(() => encodePngGrey(new Float32Array([NaN]), 1, 1), /data\[0\] = NaN is invalid/);
    assert.throws(() => encodePngGrey(new Uint8Array(5), 2, 3), ShapeError);
  });

  it('takes one channel of grey-as-RGB and BT.601 luminance of true colour', () => {
    const grey = decodePngGrey(rgbPng(2, 1, (p) => [p * 100, p * 100, p * 100]), 'g');
    assert.deepEqual(Array.from(grey.data), [0, 100]);
    const colour = decodePngGrey(rgbPng(2, 1, (p) => (p ? [255, 0, 0] : [10, 20, 30])), 'c', { dtype: 'float32' });
    assert.ok(Math.abs(colour.data[0] - (0.299 * 10 + 0.587 * 20 + 0.114 * 30)) < 1e-4);
    assert.ok(Math.abs(colour.data[1] - 0.299 * 255) < 1e-4);
  });

  it('throws FormatError naming the file when missing or not a PNG; leaves no partial file', () => {
    const dir = tmpDir();
    const missing = path.join(dir, 'nope.png');
    assert.throws(() => readPngGrey(missing), (e: unknown) => e instanceof FormatError && e.file === missing);
    const bad = path.join(dir, 'bad.png');
    fs.writeFileSync(bad, 'not a png at all');
    assert.throws(() => readPngGrey(bad), (e: unknown) => e instanceof FormatError && /bad\.png: not a readable PNG/.test(e.message));
    assert.throws(() => writePngGrey(path.join(dir, 'x.png'), new Float32Array([NaN]), 1, 1));
    assert.deepEqual(fs.readdirSync(dir), ['bad.png']);
  });

  it('reads facemap-face frames (grey stored as RGB) as 646 x 864', function () {
    const dir = sharedOrSkip(this, 'facemap-face', 'labeled-data', 'cam1_G7c1_1');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.png'));
    assert.ok(files.length > 100);
    const img = readPngGrey(path.join(dir, files[0]));
    assert.deepEqual([img.height, img.width, img.bitDepth], [646, 864, 8]);
    const raw = PNG.sync.read(fs.readFileSync(path.join(dir, files[0])));
    assert.equal(raw.colorType, 2);
    for (const p of [0, 1000, 646 * 864 - 1]) assert.equal(img.data[p], raw.data[p * 4]);
    const mean = img.data.reduce((a, b) => a + b, 0) / img.data.length;
    assert.ok(mean > 10 && mean < 245, `mean grey ${mean} should be a real image`);
  });

  it('reads mirror-mouse frames (8-bit grey) as 406 x 396', function () {
    const file = sharedOrSkip(this, 'mirror-mouse', 'labeled-data', 'img01.png');
    const img = readPngGrey(file, { dtype: 'float32' });
    assert.deepEqual([img.height, img.width], [406, 396]);
    const copy = readPngGrey(path.join(path.dirname(file), 'img00.png'), { dtype: 'float32' });
    assert.deepEqual(copy.data, img.data); // img00.png is a copy of img01.png (data README)
  });
});
