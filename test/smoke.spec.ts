import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ParamError, writeAtomic } from '../src';

describe('errors and atomic writes', () => {
  it('ParamError names the field, the value and the allowed range', () => {
    const e = new ParamError('sbin', -1, 'an integer >= 1');
    assert.equal(e.message, 'sbin = -1 is invalid: expected an integer >= 1');
    assert.equal(e.name, 'ParamError');
  });

  it('a failed atomic write leaves no file behind', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-'));
    const target = path.join(dir, 'out.bin');
    await assert.rejects(
      writeAtomic(target, (tmp) => {
        fs.writeFileSync(tmp, 'half');
        throw new Error('disk full');
      }),
      /disk full/,
    );
    assert.deepEqual(fs.readdirSync(dir), []);
    await writeAtomic(target, (tmp) => fs.writeFileSync(tmp, 'whole'));
    assert.equal(fs.readFileSync(target, 'utf8'), 'whole');
    assert.deepEqual(fs.readdirSync(dir), ['out.bin']);
  });
});
