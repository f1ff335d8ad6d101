import * as assert from 'node:assert/strict';
import * as io from '../../src/io';

describe('io index', () => {
  it('exports the readers and writers of every format', () => {
    for (const name of ['readNpy', 'writeNpy', 'parseNpy', 'readMat', 'readPngGrey', 'writePngGrey', 'openH5', 'writeH5', 'withH5']) {
      assert.equal(typeof (io as Record<string, unknown>)[name], 'function', name);
    }
  });
});
