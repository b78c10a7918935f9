/**
 * Faults that surface outside a promise (postgres.js socket callbacks, setImmediate writes) are tested in a
 * child process (fixtures/host-safety.ts): a backend terminated or cancelled, statement_timeout or
 * idle_in_transaction_session_timeout firing, or the socket dropped, at three points of a large COPY, a large
 * unnest bulkInsert and a large bulkUpdate, on both ends of the postgres.js peer range. The child must exit 0
 * with an empty stderr (no uncaught exception, no unhandled rejection), every call must settle, and the pool
 * must serve the next query.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../setup/index.js';

const fixture = join(import.meta.dirname, 'fixtures/host-safety.ts');
const versions = ['3.4.9', '3.4.0'] as const;
const ops = ['copy', 'unnest', 'update'] as const;
const faults = ['terminate', 'cancel', 'statement-timeout', 'idle-in-tx', 'socket-drop'] as const;

/**
 * Known upstream limit, asserted as such: postgres.js 3.4.0 has no close signal for a connection inside
 * sql.begin() (3.4.9 rejects begin() on close), so when the server ends an idle transaction's connection the
 * next statement is written to the closed socket and never settles. It does not crash the host. This holds on
 * every path, COPY included (the transaction sits idle while the async source pauses between batches).
 */
const knownHang = (v: string, _op: string, fault: string) => v === '3.4.0' && fault === 'idle-in-tx';

function runChild(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>(
    (resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', fixture, ...args],
        { timeout: 170_000, killSignal: 'SIGKILL', env: { ...process.env, ...env } },
        (error, stdout, stderr) => {
          const e = error as (Error & { code?: number; signal?: string }) | null;
          resolve({
            code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
            signal: e?.signal ?? null,
            stdout,
            stderr,
          });
        },
      );
    },
  );
}

const tdb = useTestDatabase('bulk_host');

describe('host safety (child process)', () => {
  for (const v of versions)
    for (const op of ops)
      it(`postgres.js ${v}, ${op}: ${faults.join(', ')} at 3 points each; no uncaught error, every call settles`, async () => {
        const short = faults.filter((f) => knownHang(v, op, f));
        const r = await runChild([v, op, faults.join(','), tdb.url], { HS_SHORT: short.join(',') });
        expect(r.signal, r.stderr).toBeNull();
        expect(r.stderr).not.toMatch(/uncaught|unhandled|TypeError|Cannot read properties/i);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        const lines = r.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { fault: string; settled: string; name?: string; next: string });
        expect(lines).toHaveLength(faults.length * 3);
        for (const l of lines) {
          if (knownHang(v, op, l.fault)) {
            // Hung, as described above; or, when the next statement reached the server before it ended the
            // connection (a loaded machine), the server's 25P03 as a typed error.
            expect(['hung', 'error'], JSON.stringify(l)).toContain(l.settled);
            if (l.settled === 'error') expect(l.name, JSON.stringify(l)).toBe('BulkWriteError');
            continue;
          }
          expect(['ok', 'error'], JSON.stringify(l)).toContain(l.settled);
          if (l.settled === 'error') expect(l.name, JSON.stringify(l)).toBe('BulkWriteError');
          expect(l.next, JSON.stringify(l)).toBe('ok');
        }
      }, 180_000);
});
