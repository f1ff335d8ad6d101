/**
 * `facemap-ts export-onnx`, `track` and `label-video` as a user runs them (child processes of the
 * built CLI): outputs, the JSON line on stdout, exit codes, and the tfjs fallback when ONNX Runtime
 * is unavailable (FACEMAP_ORT=off).
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { locateFfmpeg } from '../../src/io/ffmpeg';
import { saveTestModel, smallFMnet } from '../pose/onnx-helpers';
import { tempDir } from '../pose/pose-data';
import { useWasm } from '../pose/setup';

const CLI = path.resolve(__dirname, '../../src/cli/main.js');

function cli(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string; json: Record<string, unknown> | null } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 240_000 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(last) as Record<string, unknown>;
  } catch {
    json = null;
  }
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json };
}

describe('cli: facemap-ts export-onnx / track / label-video', () => {
  let dir: string;
  let model: string;
  let video: string;
  before(async () => {
    await useWasm();
    dir = tempDir('track-cli');
    model = path.join(dir, 'model');
    const m = smallFMnet(2, 41);
    await saveTestModel(model, m, { x0: 8, x1: 88, y0: 0, y1: 80 });
    m.dispose();
    video = path.join(dir, 'mouse.mp4');
    const r = spawnSync(locateFfmpeg().ffmpeg, ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=96x80:rate=30', '-frames:v', '40', '-pix_fmt', 'yuv420p', video]);
    assert.equal(r.status, 0, String(r.stderr));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('export-onnx then track --csv --filter: outputs, progress, one JSON line; label-video draws them', () => {
    assert.equal(cli(['track', '--help']).code, 0);
    const ex = cli(['export-onnx', '--model', model]);
    assert.equal(ex.code, 0, ex.stderr);
    assert.equal(ex.json?.file, path.join(model, 'model.onnx'));
    const out = path.join(dir, 'out');
    const t = cli(['track', video, '--model', model, '--out', out, '--csv', '--filter', '--max-jump', '30', '--batch', '7']);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stderr, /engine: 2 x ONNX Runtime .*1 thread, worker threads/);
    assert.match(t.stderr, /track mouse\.mp4 done in .*40 frames, [\d.]+ frames\/s/);
    const v = (t.json?.videos as { status: string; frames: number; framesPerSecond: number }[])[0];
    assert.deepEqual([v.status, v.frames], ['tracked', 40]);
    assert.ok(v.framesPerSecond > 0);
    assert.deepEqual(fs.readdirSync(out).sort(), [
      'mouse_FacemapPose.csv',
      'mouse_FacemapPose.h5',
      'mouse_FacemapPose.json',
      'mouse_FacemapPose_filtered.csv',
      'mouse_FacemapPose_filtered.h5',
    ]);
    const meta = JSON.parse(fs.readFileSync(path.join(out, 'mouse_FacemapPose.json'), 'utf8'));
    assert.equal(meta.boxSource, 'model card');
    assert.equal(meta.outputs.filtered.config.outliers.maxJump, 30);
    assert.equal(meta.outputs.filtered.config.outliers.maxSpike, 25);
    const again = cli(['track', video, '--model', model, '--out', out, '--csv', '--filter', '--max-jump', '30']);
    assert.equal((again.json?.videos as { status: string }[])[0].status, 'skipped');
    assert.match(again.stderr, /already tracked/);

    const labelled = path.join(dir, 'labelled.mp4');
    const lv = cli(['label-video', video, '--keypoints', path.join(out, 'mouse_FacemapPose.h5'), '--out', labelled]);
    assert.equal(lv.code, 0, lv.stderr);
    assert.equal(lv.json?.frames, 40);
    assert.ok(fs.statSync(labelled).size > 0);
  });

  it('falls back to tfjs when ONNX Runtime is unavailable, and says so; --engine onnx then fails (exit 4)', () => {
    const out = path.join(dir, 'out-noort');
    const t = cli(['track', video, '--model', model, '--out', out], { FACEMAP_ORT: 'off' });
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stderr, /ONNX Runtime is not available \(disabled by FACEMAP_ORT=off\): running on tfjs/);
    assert.match(String(t.json?.engine), /^tfjs/);
    const forced = cli(['track', video, '--model', model, '--out', out, '--engine', 'onnx', '--force'], { FACEMAP_ORT: 'off' });
    assert.equal(forced.code, 4);
    assert.match(forced.stderr, /ONNX Runtime is not available/);
  });

  it('exit codes: 2 for bad options, 3 for a missing model or a bad video (named)', () => {
    assert.equal(cli(['track', video, '--model', model, '--batch', '0']).code, 2);
    assert.equal(cli(['track', video, '--model', model, '--max-jump', '3']).code, 2);
    assert.equal(cli(['track', video]).code, 2);
    const missing = cli(['track', video, '--model', path.join(dir, 'nope')]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /card\.json: model card not found/);
    const text = path.join(dir, 'notes.mp4');
    fs.writeFileSync(text, 'not a video\n'.repeat(100));
    const bad = cli(['track', text, '--model', model, '--out', path.join(dir, 'out-bad')]);
    assert.equal(bad.code, 3);
    assert.match(bad.stderr, /notes\.mp4: not a readable video/);
    assert.deepEqual(fs.existsSync(path.join(dir, 'out-bad')) ? fs.readdirSync(path.join(dir, 'out-bad')) : [], []);
  });
});
