/**
 * Why a postgres.js pool with `idle_timeout` is slower per query than one without, and the workaround.
 *
 * The cause is not the idle timer itself but how Node files it. postgres.js gives every connection one idle
 * timer and restarts it on every query: `move()` in src/index.js calls `idleTimer.cancel()` when the
 * connection gets work and `idleTimer.start()` when it goes back to the open queue, and `timer()` in
 * src/connection.js does `clearTimeout` + `setTimeout(done, idle_timeout * 1000)`. Node keeps one
 * TimersList per duration, and `unenroll()` in lib/timers.js deletes a *ref'd* timer's list as soon as it is
 * empty ("We only delete refed lists because unrefed ones are incredibly likely to come from http and be
 * recreated shortly after"). A service whose traffic fits one connection has exactly one 30 000 ms timer,
 * so every query removes the list from the priority queue and `delete`s it from `timerListMap` (an
 * integer key: dictionary-mode elements, through V8's runtime), and the next `setTimeout` builds a new
 * TimersList, inserts it into the priority queue and re-adds the key through the same slow path
 * (nodejs/node#17429 discusses that `delete`). Measured on Node 20 in the real query loop: 4.0-4.5 us per
 * query (setTimeout ~3 us, clearTimeout ~1.4 us) against ~0.6 us for the same pair in a hot micro-loop;
 * perf shows the extra in `Runtime_DeleteProperty`, `JSObject::AddDataElement`, dictionary-elements
 * lookups, `TimersList` construction and `PriorityQueue.insert`.
 *
 * The client manager avoids the timer altogether where it can (pg-idle-reaper.ts: no per-query cost). Where
 * postgres.js' timer stays (TLS, several hosts, a custom socket, plain clients), the workaround keeps one
 * unref'd interval of the same duration alive while a pool uses it: the list is
 * then never empty, so postgres.js' clear/set pair becomes a linked-list unlink and append (~1.8 us, the
 * Timeout allocation that remains while postgres.js restarts the timer per query). It changes nothing
 * else: the interval does nothing, does not keep the process alive, and postgres.js' own timers still
 * close idle connections after exactly `idle_timeout`.
 */

const keepers = new Map<number, { timer: NodeJS.Timeout; users: number }>();
const noop = () => {};

/**
 * Keeps Node's timer list for `ms` alive until the returned release function has been called as often as
 * this was. Durations that Node would not file in a list of their own (< 1 ms, > 2^31-1 ms) are ignored.
 *
 * @example
 * ```ts
 * const release = keepTimerList(30_000); // a pool with idle_timeout: 30 was created
 * release();                             // ...and ended
 * ```
 */
export function keepTimerList(ms: number): () => void {
  // Node truncates the duration the same way when it files a timer (lib/internal/timers.js insert()).
  const key = Math.trunc(ms);
  if (!Number.isFinite(key) || key < 1 || key > 2 ** 31 - 1) return noop;
  let k = keepers.get(key);
  if (!k) {
    k = { timer: setInterval(noop, key), users: 0 };
    k.timer.unref();
    keepers.set(key, k);
  }
  k.users++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const cur = keepers.get(key);
    if (!cur || --cur.users > 0) return;
    clearInterval(cur.timer);
    keepers.delete(key);
  };
}

/**
 * Durations currently kept, for tests and diagnostics.
 *
 * @example
 * ```ts
 * keptTimerLists() // [30000] while a pool with idle_timeout: 30 is open
 * ```
 */
export function keptTimerLists(): number[] {
  return [...keepers.keys()].sort((a, b) => a - b);
}
