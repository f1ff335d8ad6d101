/**
 * `facemap-ts train` and `facemap-ts evaluate` (command objects, run in-process) on a tiny
 * DeepLabCut CSV of 6 synthetic 64x64 frames, 1 epoch of a tiny network.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { evaluateCommand } from '../../src/cli/evaluate';
import { trainCommand } from '../../src/cli/train';
import { FormatError, ParamError } from '../../src/errors';
import { writeLabels } from '../../src/pose';
import { tempDir, tinyLabelSet } from '../pose/pose-data';
import { useWasm } from '../pose/setup';

async function capture(fn: () => Promise<void>): Promise<{ stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const [o, e] = [process.stdout.write, process.stderr.write];
  process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
  try {
    await fn();
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
  }
  return { stdout: out.join(''), stderr: err.join('') };
}

describe('cli: facemap-ts train / evaluate', () => {
  let dir: string;
  let csv: string;
  before(async () => {
    await useWasm();
    dir = tempDir('pose-cli');
    const set = tinyLabelSet(dir, 6);
    csv = path.join(dir, 'CollectedData_synth.csv');
    await writeLabels(csv, set);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('trains one epoch, writes a model folder, and evaluate prints a JSON line of metrics last', async () => {
    const out = path.join(dir, 'model');
    const tiny = ['--epochs', '1', '--input-size', '64', '--channels', '4,8,8,8,8', '--batch', '2', '--seed', '1'];
    const before = tf.memory().numTensors;
    const t = await capture(() => trainCommand.run(['--labels', csv, '--out', out, ...tiny]));
    assert.match(t.stderr, /epoch 1\/1 done/);
    const summary = JSON.parse(t.stdout.trim().split('\n').pop()!);
    assert.equal(summary.frames, 6);
    assert.equal(summary.keypoints, 3);
    for (const f of ['model.json', 'weights.bin', 'card.json']) assert.ok(fs.existsSync(path.join(out, f)), f);
    const card = JSON.parse(fs.readFileSync(path.join(out, 'card.json'), 'utf8'));
    assert.deepEqual(card.channels, [4, 8, 8, 8, 8]);
    assert.equal(card.inputSize, 64);
    assert.equal(card.trainingData.nFrames, 6);
    // Training images are named relative to the label file's folder (portable when the data move).
    for (const f of card.trainingData.files) assert.match(f, /^labeled-data\//);

    const e = await capture(() => evaluateCommand.run(['--model', out, '--labels', csv]));
    const lines = e.stdout.trim().split('\n');
    const m = JSON.parse(lines[lines.length - 1]);
    assert.equal(m.n, 18);
    assert.ok(m.mean > 0 && m.median > 0 && m.p95 >= m.median);
    assert.deepEqual(Object.keys(m.pck), ['5px', '10px', '0.05ref']);
    assert.equal(m.perKeypoint.length, 3);
    assert.equal(tf.memory().numTensors, before);

    // Fine-tuning from the folder.
    const ft = path.join(dir, 'ft');
    await capture(() => trainCommand.run(['--labels', csv, '--out', ft, '--base', out, '--epochs', '1', '--quiet']));
    assert.equal(JSON.parse(fs.readFileSync(path.join(ft, 'card.json'), 'utf8')).base, out);
  });

  it('bad labels (a missing image) and bad options fail before training, writing nothing', async () => {
    const bad = path.join(dir, 'bad.csv');
    const text = fs.readFileSync(csv, 'utf8').replace('img002.png', 'gone.png');
    fs.writeFileSync(bad, text);
    const out = path.join(dir, 'never');
    await assert.rejects(
      capture(() => trainCommand.run(['--labels', bad, '--out', out, '--epochs', '1'])),
      (e: unknown) => e instanceof FormatError && /gone\.png/.test(e.message),
    );
    await assert.rejects(capture(() => trainCommand.run(['--labels', csv, '--out', out, '--epochs', '0'])), (e: unknown) => e instanceof ParamError && e.field === '--epochs');
    await assert.rejects(capture(() => trainCommand.run(['--labels', csv])), (e: unknown) => e instanceof ParamError && e.field === '--out');
    assert.equal(fs.existsSync(out), false);
  });
});
