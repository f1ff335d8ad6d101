import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { svdCommand } from '../../src/cli/svd';
import { ParamError } from '../../src/errors';
import { openH5 } from '../../src/io/hdf5';
import { encodeLossless, plantedMotion } from './helpers';

describe('cli/svd', () => {
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'motion-cli-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes <video>_proc.h5 with the ROIs of a JSON file', async () => {
    const p = plantedMotion(150);
    const video = encodeLossless(path.join(dir, 'cam.mkv'), p.frames, p.Ly, p.Lx);
    const rois = path.join(dir, 'rois.json');
    fs.writeFileSync(rois, JSON.stringify([{ type: 'motion', box: { x0: 18, x1: 30, y0: 12, y1: 28 } }]));
    const out = path.join(dir, 'out');
    fs.mkdirSync(out);
    const write = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      await svdCommand.run([video, '--sbin', '2', '--components', '4', '--rois', rois, '--out', out]);
    } finally {
      process.stdout.write = write;
    }
    const r = await openH5(path.join(out, 'cam_proc.h5'));
    try {
      assert.ok(r.has('/motSVD/1'));
    } finally {
      r.close();
    }
  });

  it('rejects a bad --sbin and a missing video list', async () => {
    await assert.rejects(svdCommand.run([]), ParamError);
    await assert.rejects(svdCommand.run(['x.mp4', '--sbin', '0']), Error);
  });
});
