// A burst of address changes (a thousand instances becoming Master at once) must neither abort
// the daemon nor lose a change: 2000 addresses added and removed concurrently through the
// engine's AddressManager inside a namespace, every one applied.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { withPair } from '../lib/netns.ts';
import { exited, follow } from '../lib/daemon.ts';
import { needs } from '../lib/require.ts';

const fixture = fileURLToPath(new URL('./fixtures/address-burst.ts', import.meta.url));

test('2000 concurrent address changes: no abort, every one applied', { ...needs('root', 'ip'), timeout: 60_000 }, async () => {
  await withPair(['n', 'peer'], async ({ lab, a }) => {
    const run = follow(lab.spawn(a, process.execPath, ['--import', 'tsx', fixture, '2000']));
    const code = await exited(run.child);
    assert.equal(code, 0, `the process survived the burst:\n${run.log()}`);
    const result = JSON.parse(run.log().trim().split('\n').at(-1) ?? '{}') as { added: number; removed: number; rejected: number };
    assert.deepEqual({ added: result.added, removed: result.removed, rejected: result.rejected }, { added: 2000, removed: 2000, rejected: 0 });
  });
});
