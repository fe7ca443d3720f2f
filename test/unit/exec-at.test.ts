// The daemon's exec time as the engine sees it (src/daemon/exec-at.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { processStartMicros } from '../../src/clock.ts';
import { daemonExecAt, EXEC_AT_ENV } from '../../src/daemon/exec-at.ts';

test("the supervisor's exec when it is plausible, else this process's own start", () => {
  const own = processStartMicros();
  assert.ok(Math.abs(daemonExecAt({}) - own) < 2_000, 'no variable: our own start');
  assert.equal(daemonExecAt({ [EXEC_AT_ENV]: String(own - 300_000) }), own - 300_000, 'the parent started 0.3 s before us');
  for (const bad of ['', 'x', String(own + 5_000_000), String(own - 60_000_000)]) {
    assert.ok(Math.abs(daemonExecAt({ [EXEC_AT_ENV]: bad }) - own) < 2_000, `ignored: ${JSON.stringify(bad)}`);
  }
});
