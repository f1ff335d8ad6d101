import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { FormatError, ParamError } from '../../src/errors';
import { openH5 } from '../../src/io/hdf5';
import { probeVideo } from '../../src/io/video';
import { readPoseH5 } from '../../src/synth/pose-h5';
import { readSessionManifest, simulateSession } from '../../src/synth/session';

const CLI = path.resolve(__dirname, '../../src/cli/main.js');
const FILES = ['face.mp4', 'neural.h5', 'truth/face_keypoints.h5', 'truth/latents.h5', 'session.json'];

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fm-session-'));
}

describe('simulated sessions (simulateSession, facemap-ts synth)', function () {
  this.timeout(120000);
  let dir: string;
  let first: string;

  before(async () => {
    dir = tmpdir();
    first = path.join(dir, 'a');
    await simulateSession({ preset: 'tiny', outDir: first, seed: 7, overrides: { seconds: 30 } });
  });

  it('writes the video, true keypoints, latents, neural data and a manifest that agree with each other', async () => {
    for (const f of FILES) assert.ok(fs.existsSync(path.join(first, f)), `${f} missing`);
    const m = readSessionManifest(first);
    assert.equal(m.nFrames, 1500);
    const video = await probeVideo(path.join(first, 'face.mp4'));
    assert.equal(video.nFrames, m.nFrames);
    assert.equal(video.fps, m.cameraFps);
    assert.deepEqual([video.width, video.height], [m.width, m.height]);
    const kp = await readPoseH5(path.join(first, 'truth/face_keypoints.h5'));
    assert.equal(kp.nFrames, m.nFrames);
    assert.equal(kp.names.length, 15);
    const h5 = await openH5(path.join(first, 'neural.h5'));
    try {
      assert.deepEqual(h5.info('/neural/activity').shape, [m.nNeurons, m.nTimepoints]);
    } finally {
      h5.close();
    }
  });

  it('the same seed gives byte-identical files; another seed gives different ones', async () => {
    const again = path.join(dir, 'b');
    const other = path.join(dir, 'c');
    await simulateSession({ preset: 'tiny', outDir: again, seed: 7, overrides: { seconds: 30 } });
    await simulateSession({ preset: 'tiny', outDir: other, seed: 8, overrides: { seconds: 30 } });
    for (const f of FILES) {
      assert.ok(fs.readFileSync(path.join(first, f)).equals(fs.readFileSync(path.join(again, f))), `${f} differs for the same seed`);
    }
    for (const f of ['face.mp4', 'neural.h5', 'truth/latents.h5']) {
      assert.ok(!fs.readFileSync(path.join(first, f)).equals(fs.readFileSync(path.join(other, f))), `${f} equal for different seeds`);
    }
  });

  it('an interrupted run leaves nothing that looks like a session', async () => {
    const out = path.join(dir, 'interrupted');
    await assert.rejects(
      simulateSession({
        preset: 'tiny',
        outDir: out,
        overrides: { seconds: 30 },
        onProgress: (stage, done) => {
          if (stage === 'neural' && done > 0) throw new Error('interrupted');
        },
      }),
      /interrupted/,
    );
    assert.ok(!fs.existsSync(out));
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.startsWith('interrupted')),
      [],
      'no partial folder left behind',
    );
    assert.throws(() => readSessionManifest(dir), FormatError);
  });

  it('refuses an existing folder unless forced, and replaces it only when complete', async () => {
    const out = path.join(dir, 'existing');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'keep.txt'), 'old');
    await assert.rejects(simulateSession({ preset: 'tiny', outDir: out, overrides: { seconds: 30 } }), ParamError);
    assert.ok(fs.existsSync(path.join(out, 'keep.txt')));
    await simulateSession({ preset: 'tiny', outDir: out, overrides: { seconds: 30 }, force: true, video: false });
    assert.ok(!fs.existsSync(path.join(out, 'keep.txt')));
    assert.equal(readSessionManifest(out).files.video, null);
  });

  it('bad options are clear errors', async () => {
    await assert.rejects(simulateSession({ preset: 'huge', outDir: path.join(dir, 'x') }), (e: unknown) => e instanceof ParamError && /tiny \| visible \| demo \| paper/.test(e.message));
    await assert.rejects(simulateSession({ preset: 'tiny', outDir: path.join(dir, 'x'), seed: 1.5 }), ParamError);
    await assert.rejects(simulateSession({ preset: 'tiny', outDir: path.join(dir, 'x'), overrides: { seconds: -1 } }), ParamError);
    await assert.rejects(simulateSession({ preset: 'tiny', outDir: path.join(dir, 'no', 'such', 'x') }), FormatError);
    await assert.rejects(
      simulateSession({ preset: 'tiny', outDir: path.join(dir, 'x'), overrides: { seconds: 30, neural: { nNeurons: -5 } } }),
      (e: unknown) => e instanceof ParamError && /nNeurons/.test(e.message),
    );
    assert.ok(!fs.existsSync(path.join(dir, 'x')));
  });

  it('facemap-ts synth writes a session and reports errors with exit codes', () => {
    const out = path.join(dir, 'cli');
    const ok = spawnSync(process.execPath, [CLI, 'synth', '--preset', 'tiny', '--out', out, '--seed', '3', '--no-video'], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /session 'tiny' \(seed 3\)/);
    assert.equal(readSessionManifest(out).seed, 3);
    const bad = spawnSync(process.execPath, [CLI, 'synth', '--preset', 'huge', '--out', path.join(dir, 'y')], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /preset = "huge"/);
    const missing = spawnSync(process.execPath, [CLI, 'synth', '--out', path.join(dir, 'y')], { encoding: 'utf8' });
    assert.equal(missing.status, 2);
  });
});
