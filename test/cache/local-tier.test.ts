/**
 * The local tier in one process, on a throwaway Redis and a throwaway 3-node Cluster (these tests kill
 * connections, pause the server and change ACLs), with both ioredis majors: copies are never shared, bounds,
 * TTLs, the fetch-vs-invalidation race, the invalidation connection killed and hung, and the bus fallback where
 * CLIENT TRACKING is refused.
 */
import { execFile } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { promisify } from 'node:util';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CACHE_CHANNELS,
  type CacheStore,
  createQueryCache,
  memoryStore,
  type QueryCache,
  redisStore,
} from '../../src/cache/index.js';
import {
  newClusterClient,
  newRedisClient,
  type SpawnedCluster,
  type SpawnedRedis,
  sleep,
  spawnRedis,
  spawnRedisCluster,
  waitFor,
} from '../setup/index.js';
import { ioredisMajors, namespace, row } from './helpers.js';

const run = promisify(execFile);
let server: SpawnedRedis;
let cluster: SpawnedCluster;
beforeAll(async () => {
  [server, cluster] = await Promise.all([spawnRedis(), spawnRedisCluster(3)]);
});
let added: SpawnedRedis | undefined;
afterAll(async () => {
  await Promise.all([server?.dispose(), cluster?.dispose(), added?.dispose()]);
});

const kinds = ioredisMajors.flatMap((m) => [`redis/${m}`, `cluster/${m}`] as const);

describe.each(kinds)('local tier on %s', (kind) => {
  const [type, m] = kind.split('/') as ['redis' | 'cluster', string];
  const major = Number(m) as 5 | 6;
  const clients: Array<Redis | Cluster> = [];
  const caches: QueryCache[] = [];
  const ports = () => (type === 'redis' ? [server.port] : cluster.nodes.map((n) => n.port));
  const cli = (port: number, ...args: string[]) =>
    run('redis-cli', ['-p', String(port), ...args]).then((r) => r.stdout.trim());
  const cliKey = (...args: string[]) =>
    run('redis-cli', ['-c', '-p', String(ports()[0]), ...args]).then((r) => r.stdout.trim());
  const client = (options: object = {}) => {
    const c =
      type === 'redis'
        ? newRedisClient(major, server.url, options)
        : newClusterClient(major, cluster.nodes, { redisOptions: options });
    c.on('error', () => {});
    clients.push(c);
    return c;
  };
  /** Two caches of one namespace on two clients (two "processes"), both serving locally. */
  const pair = async (local: object = {}, store?: (c: Redis | Cluster) => CacheStore) => {
    const ns = namespace(`lt${major}${type}`);
    const [a, b] = [client(), client()].map((c) => {
      const cache = store
        ? createQueryCache({ store: store(c), namespace: ns, ttl: 60, local })
        : createQueryCache({ redis: c, namespace: ns, ttl: 60, local });
      caches.push(cache);
      return cache;
    }) as [QueryCache, QueryCache];
    await waitFor('both local tiers to serve', async () =>
      [a, b].every((c) => c.stats().local?.serving === true),
    );
    return { a, b, ns };
  };
  /** Reads until the value comes from the local tier (the fill lands one PTTL after the first read). */
  const warm = async (c: QueryCache, key: string) => {
    await waitFor(`a local copy of ${key}`, async () => {
      const before = c.stats().localHits;
      await c.get(key);
      return c.stats().localHits > before;
    });
  };
  const localRead = async (c: QueryCache, key: string) => {
    const before = c.stats().localHits;
    const value = await c.get(key);
    return { value, local: c.stats().localHits > before };
  };

  afterAll(async () => {
    for (const c of caches) await c.close();
    await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
  });

  it('hands out a fresh object per local hit: a caller mutating it changes nothing for the next', async () => {
    const { a, b } = await pair();
    const value = { rows: [row(1), row(2)], m: new Map([[1, 'x']]), s: new Set([1]) };
    await a.set('v', value);
    await warm(b, 'v');
    const hits = b.stats().localHits;
    const first = (await b.get<typeof value>('v'))!;
    first.rows.pop();
    first.rows[0]!.name = 'mutated';
    first.m.set(2, 'y');
    first.s.add(2);
    const second = await localRead(b, 'v');
    expect(second).toEqual({ value, local: true });
    expect(second.value).not.toBe(first);
    expect(b.stats().localHits - hits).toBe(2);
    expect(b.stats().hits).toBeGreaterThanOrEqual(b.stats().localHits);
  });

  it('freeze: every hit shares one deep-frozen value (no decode); writing to it throws', async () => {
    const { a, b } = await pair({ freeze: true });
    const value = { rows: [row(1)], n: 1 };
    await a.set('f', value);
    await warm(b, 'f');
    const x = (await b.get<typeof value>('f'))!;
    const y = (await b.get<typeof value>('f'))!;
    expect(x).toBe(y);
    expect(x).toEqual(value);
    expect(Object.isFrozen(x.rows[0])).toBe(true);
    expect(() => {
      x.rows.push(row(2));
    }).toThrow(TypeError);
    expect(() => {
      x.n = 2;
    }).toThrow(TypeError);
  });

  it('publishes local hits (tier: local) on dbkit:cache:hit', async () => {
    const { a, b, ns } = await pair();
    await a.set('h', 1);
    await warm(b, 'h');
    const tiers: string[] = [];
    const h = (msg: unknown) => {
      const x = msg as { namespace: string; tier: string };
      if (x.namespace === ns) tiers.push(x.tier);
    };
    subscribe(CACHE_CHANNELS.hit, h);
    try {
      await b.get('h');
      await b.close(); // no invalidation connection: served from Redis
      await b.get('h');
    } finally {
      unsubscribe(CACHE_CHANNELS.hit, h);
    }
    expect(tiers).toEqual(['local', 'store']);
    expect(b.stats().local).toMatchObject({ serving: false, entries: 0 });
  });

  it('caches of several namespaces on one client share one invalidation connection per master', async () => {
    const links = async () => {
      let n = 0;
      for (const port of ports()) {
        n += (await cli(port, 'CLIENT', 'LIST'))
          .split('\n')
          .filter((l) => l.includes('name=dbkit-cache-invalidation')).length;
      }
      return n;
    };
    const before = await links();
    const shared = client();
    const writer = client();
    const names = ['s1', 's2', 's3'].map((x) => namespace(`${x}${major}${type}`));
    const mine = names.map((ns) => createQueryCache({ redis: shared, namespace: ns, ttl: 60, local: {} }));
    const theirs = names.map((ns) => createQueryCache({ redis: writer, namespace: ns, ttl: 60 }));
    caches.push(...mine);
    await waitFor('all three to serve', async () => mine.every((c) => c.stats().local?.serving));
    await waitFor('the links to settle', async () => (await links()) - before === ports().length);
    for (const [i, c] of mine.entries()) {
      await theirs[i]!.set('k', `v${i}`);
      await warm(c, 'k');
    }
    await theirs[1]!.set('k', 'changed');
    await waitFor(
      'the write to reach its own namespace',
      async () => (await mine[1]!.get('k')) === 'changed',
    );
    // the other namespaces keep their copies
    expect(await localRead(mine[0]!, 'k')).toEqual({ value: 'v0', local: true });
    expect(await localRead(mine[2]!, 'k')).toEqual({ value: 'v2', local: true });
    await mine[0]!.close();
    expect(await localRead(mine[2]!, 'k')).toEqual({ value: 'v2', local: true });
    expect(mine[0]!.stats().local?.serving).toBe(false);
  });

  it('stays within maxEntries and maxBytes, evicting the least recently used', async () => {
    const { a, b, ns } = await pair({ maxEntries: 3, maxBytes: 1_000_000 });
    const evicted: string[] = [];
    const h = (msg: unknown) => {
      const x = msg as { namespace: string; key: string; reason: string };
      if (x.namespace === ns) evicted.push(`${x.key.slice(-2)}:${x.reason}`);
    };
    subscribe(CACHE_CHANNELS.localEvict, h);
    try {
      await a.setMany(['e1', 'e2', 'e3', 'e4'].map((key) => ({ key, value: key })));
      for (const k of ['e1', 'e2', 'e3']) await warm(b, k);
      await b.get('e1'); // e2 is now the least recently used
      await warm(b, 'e4');
    } finally {
      unsubscribe(CACHE_CHANNELS.localEvict, h);
    }
    expect(evicted).toEqual(['e2:entries']);
    expect(b.stats()).toMatchObject({ localEvictions: 1, local: { entries: 3 } });
    expect((await localRead(b, 'e2')).local).toBe(false);

    const small = await pair({ maxBytes: 3000 });
    await small.a.setMany(['b1', 'b2'].map((key) => ({ key, value: 'x'.repeat(1200) })));
    await warm(small.b, 'b1');
    await warm(small.b, 'b2');
    await small.b.get('b1'); // make b2 least recent: it leaves when the next copy would pass 3000 bytes
    await small.a.set('b3', 'y'.repeat(1200));
    await warm(small.b, 'b3');
    expect(small.b.stats().local!.bytes).toBeLessThanOrEqual(3000);
    expect((await localRead(small.b, 'b2')).local).toBe(false);
  });

  it('a local copy never outlives its Redis TTL, nor local.ttl', async () => {
    const { a, b } = await pair({ ttl: '300ms' });
    await a.set('short', 1, { ttl: '150ms' });
    await a.set('long', 2);
    await warm(b, 'short');
    await warm(b, 'long');
    await sleep(200);
    expect(await localRead(b, 'short')).toEqual({ value: undefined, local: false });
    await sleep(200);
    expect(await localRead(b, 'long')).toEqual({ value: 2, local: false }); // from Redis again
  });

  it('getMany serves local copies and reads only the rest', async () => {
    const { a, b } = await pair();
    await a.setMany(['m1', 'm2', 'm3'].map((key, i) => ({ key, value: i })));
    await warm(b, 'm1');
    await warm(b, 'm3');
    const before = b.stats().localHits;
    expect(await b.getMany(['m1', 'm2', 'm3', 'm4'])).toEqual([0, 1, 2, undefined]);
    expect(b.stats().localHits - before).toBe(2);
    await a.set('m1', 'new');
    await waitFor('the write to reach b', async () => (await b.getMany(['m1']))[0] === 'new');
  });

  it('a value read while its invalidation is in flight is not kept (the fetch race)', async () => {
    let gate: Promise<void> | undefined;
    // b's store delays handing Redis' reply to the cache until the gate opens (the reply raced the write).
    const delayed = (c: Redis | Cluster): CacheStore => {
      const inner = redisStore(c);
      return {
        ...inner,
        async get(k) {
          const v = await inner.get(k);
          if (gate) {
            reached?.();
            await gate;
          }
          return v;
        },
      };
    };
    let reached: (() => void) | undefined;
    const { a, b } = await pair({}, delayed);
    await a.set('race', 'old');
    let open!: () => void;
    gate = new Promise((r) => {
      open = r;
    });
    const atGate = new Promise<void>((r) => {
      reached = r;
    });
    const read = b.get('race'); // Redis answers 'old'; the cache does not see it yet
    await atGate; // Redis has answered (before the write below)
    const received = b.stats().invalidationsReceived;
    await a.set('race', 'new');
    await waitFor('the invalidation to reach b', async () => b.stats().invalidationsReceived > received);
    gate = undefined;
    open();
    expect(await read).toBe('old'); // read before the write: a correct answer for that call
    await sleep(50); // the fill (after PTTL) would land now
    expect(await localRead(b, 'race')).toEqual({ value: 'new', local: false });
  });

  it('a tagged value whose tag is invalidated while its versions are read is not kept', async () => {
    let gate: Promise<void> | undefined;
    // b's store holds the tag-version read (getMany) until the gate opens: the versions it returns are old.
    const delayed = (c: Redis | Cluster): CacheStore => {
      const inner = redisStore(c);
      return {
        ...inner,
        async getMany(keys) {
          const v = await inner.getMany(keys);
          if (gate) {
            reached?.();
            await gate;
          }
          return v;
        },
      };
    };
    let reached: (() => void) | undefined;
    const { a, b } = await pair({}, delayed);
    await a.set('tr', 'old', { tags: ['rt'] });
    let open!: () => void;
    gate = new Promise((r) => {
      open = r;
    });
    const atGate = new Promise<void>((r) => {
      reached = r;
    });
    const read = b.get('tr');
    // The versions were read (before the invalidation below), not merely requested: no sleep that a loaded
    // machine could outrun.
    await atGate;
    const received = b.stats().invalidationsReceived;
    await a.invalidateTags(['rt']);
    await waitFor('the tag invalidation to reach b', async () => b.stats().invalidationsReceived > received);
    gate = undefined;
    open();
    expect(await read).toBe('old'); // versions read before the invalidation: current for that call
    await sleep(50);
    expect(await localRead(b, 'tr')).toEqual({ value: undefined, local: false });
  });

  it('the invalidation connection killed: stops serving at once, then resumes empty', async () => {
    const { a, b, ns } = await pair();
    await a.set('k', 'v1');
    await warm(b, 'k');
    const states: boolean[] = [];
    const h = (msg: unknown) => {
      const x = msg as { namespace: string; up: boolean };
      if (x.namespace === ns) states.push(x.up);
    };
    subscribe(CACHE_CHANNELS.localState, h);
    try {
      for (const port of ports()) {
        const list = await cli(port, 'CLIENT', 'LIST');
        for (const line of list.split('\n').filter((l) => l.includes('name=dbkit-cache-invalidation'))) {
          await cli(port, 'CLIENT', 'KILL', 'ID', line.match(/id=(\d+)/)![1]!);
        }
      }
      // written while b may be unable to hear about it
      await cliKey('SET', b.storeKey('k'), 'garbage');
      await waitFor('b to stop serving', async () => states.includes(false));
      expect(b.stats().local).toMatchObject({ entries: 0 });
      await waitFor('b to serve again', async () => b.stats().local?.serving === true);
      expect(await b.get('k')).toBeUndefined(); // the garbage (a corrupt miss), never the old copy
      await a.set('k', 'v2');
      await warm(b, 'k');
      expect(await localRead(b, 'k')).toEqual({ value: 'v2', local: true });
    } finally {
      unsubscribe(CACHE_CHANNELS.localState, h);
    }
    expect(states.slice(0, 1)).toEqual([false]);
    expect(states.at(-1)).toBe(true);
  });

  // Generated for the standalone server only: this fault on the shared Cluster would disturb other test files.
  if (type === 'redis')
    it('Redis hung: an unanswered heartbeat stops the tier; resumed: it serves again', async () => {
      const { a, b } = await pair({ heartbeatMs: 50 });
      await a.set('hb', 'v1');
      await warm(b, 'hb');
      server.pause();
      try {
        await waitFor('b to stop serving', async () => b.stats().local?.serving === false, 5000);
        expect(await localRead(b, 'hb')).toEqual({ value: undefined, local: false }); // fail-open miss
      } finally {
        server.resume();
      }
      await waitFor('b to serve again', async () => b.stats().local?.serving === true, 20_000);
      await waitFor('the circuit to close', async () => b.stats().circuit === 'closed', 20_000);
      await warm(b, 'hb');
    });

  it('CLIENT TRACKING refused by ACL: falls back to the bus (our writes still invalidate)', async () => {
    const user = `notrack${major}`;
    for (const port of ports()) {
      await cli(port, 'ACL', 'SETUSER', user, 'on', 'nopass', '~*', '&*', '+@all', '-client|tracking');
    }
    const ns = namespace(`acl${major}${type}`);
    const [ca, cb] = [client({ username: user }), client({ username: user })];
    const [x, y] = [ca, cb].map((c) => {
      const cache = createQueryCache({ redis: c, namespace: ns, ttl: 60, local: {} });
      caches.push(cache);
      return cache;
    }) as [QueryCache, QueryCache];
    await waitFor('the bus to serve', async () => [x, y].every((c) => c.stats().local?.serving === true));
    expect(y.stats().local?.mode).toBe('bus');
    for (const op of ['set', 'delete', 'tags', 'pattern', 'clear'] as const) {
      await x.set('bus', 'v1', { tags: ['bt'] });
      await warm(y, 'bus');
      if (op === 'set') await x.set('bus', 'v2');
      else if (op === 'delete') await x.delete('bus');
      else if (op === 'tags') await x.invalidateTags(['bt']);
      else if (op === 'pattern') await x.invalidatePattern('bu*');
      else await x.clear();
      const expected = op === 'set' ? 'v2' : undefined;
      await waitFor(`${op} to reach y over the bus`, async () => (await y.get('bus')) === expected);
    }
    // forced tracking where it is refused: the tier never serves, reads stay correct
    const forced = createQueryCache({
      redis: client({ username: user }),
      namespace: ns,
      ttl: 60,
      local: { invalidation: 'tracking' },
    });
    caches.push(forced);
    await waitFor('tracking to be refused', async () => forced.stats().local?.mode === 'off');
    await x.set('f', 1);
    expect([await forced.get('f'), await forced.get('f')]).toEqual([1, 1]);
    expect(forced.stats()).toMatchObject({ localHits: 0, local: { serving: false } });
  });
});

describe.each(ioredisMajors)('a master added to the Cluster, ioredis %i', (major) => {
  // Runs after the other Cluster tests of this file: it grows the file's throwaway Cluster by one master (added
  // once, by the first major; disposed with the file's servers).
  const cli = (port: number, ...args: string[]) =>
    run('redis-cli', ['-p', String(port), ...args]).then((r) => r.stdout.trim());

  // Its own timeout, above the sum of its steps: a stuck wait then fails with its own name (each keeps its 30 s
  // bound) and with how long every step before it took, instead of a bare test timeout.
  it('gets its own invalidation connection: a write to a slot it now owns reaches the local copy', async () => {
    const steps: string[] = [];
    let started = Date.now();
    const step = (name: string) => {
      steps.push(`${name} ${Date.now() - started} ms`);
      started = Date.now();
    };
    try {
      await grow(step);
    } catch (e) {
      throw new Error(`${e instanceof Error ? e.message : String(e)} (steps: ${steps.join(', ')})`, {
        cause: e,
      });
    }
  }, 150_000);

  async function grow(step: (name: string) => void) {
    const seed = cluster.nodes[0]!.port;
    const ns = namespace(`grow${major}`);
    // The caches exist before the topology changes (with the first major): they must notice the new master.
    const [ca, cb] = [newClusterClient(major, cluster.nodes), newClusterClient(major, cluster.nodes)];
    const [a, b] = [ca, cb].map((redis) => createQueryCache({ redis, namespace: ns, ttl: 60, local: {} }));
    await waitFor('both tiers to serve', async () => [a!, b!].every((c) => c.stats().local?.serving));
    step('serving');
    if (!added) {
      added = await spawnRedis({
        args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes-added.conf'],
      });
      await run('redis-cli', ['--cluster', 'add-node', `127.0.0.1:${added.port}`, `127.0.0.1:${seed}`], {
        timeout: 30_000,
      });
    }
    step('add-node');
    const newId = await cli(added.port, 'CLUSTER', 'MYID');
    await waitFor('the new node to be known everywhere', async () => {
      const views = await Promise.all(cluster.nodes.map((n) => cli(n.port, 'CLUSTER', 'NODES')));
      return views.every((v) => v.includes(newId));
    });
    step('gossip');
    const key = 'moved';
    const full = `${ns}:k:${key}`;
    const slot = await cli(seed, 'CLUSTER', 'KEYSLOT', full);
    // Move the key's (empty) slot to the new master.
    let srcPort = seed;
    for (const n of [...cluster.nodes, { port: added.port }]) {
      const nodes = await cli(n.port, 'CLUSTER', 'NODES');
      const mine = nodes.split('\n').find((l) => l.includes('myself'))!;
      const ranges = mine.split(' ').slice(8);
      if (
        ranges.some((r) => {
          const [a, b = a] = r.split('-').map(Number);
          return Number(slot) >= a! && Number(slot) <= b!;
        })
      )
        srcPort = n.port;
    }
    if (srcPort !== added.port) {
      const srcId = await cli(srcPort, 'CLUSTER', 'MYID');
      await cli(added.port, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', srcId);
      await cli(srcPort, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', newId);
      for (const port of [added.port, ...cluster.nodes.map((n) => n.port)]) {
        await cli(port, 'CLUSTER', 'SETSLOT', slot, 'NODE', newId);
      }
    }
    step('slot moved');
    const grown = added;
    try {
      await waitFor('the write to land on the new master', async () => {
        await a!.set(key, 'v1').catch(() => {});
        // EXISTS, not GET !== '': redis-cli prints an error reply (MOVED, CLUSTERDOWN while the slot settles) as
        // text, which passed for a landed write: a's write loop stopped, the key was never written, and every
        // read of b below was a miss (no copy to keep) until the test timed out.
        return (await cli(grown.port, 'EXISTS', full)) === '1';
      });
      step('write landed');
      await waitFor('b to track every master, the new one included', async () => {
        await b!.get(key); // a MOVED reply makes ioredis refresh its slots: the new master appears
        // Two invalidation connections on the new master: a's and b's. a learned the new master first (its write
        // got the MOVED), so one connection there is a's and says nothing about b.
        const list = await cli(grown.port, 'CLIENT', 'LIST');
        return (
          b!.stats().local?.serving === true &&
          (list.match(/name=dbkit-cache-invalidation/g) ?? []).length >= 2
        );
      });
      step('b tracks the new master');
      await waitFor('a local copy', async () => {
        const before = b!.stats().localHits;
        await b!.get(key);
        return b!.stats().localHits > before;
      });
      step('local copy');
      await cli(added.port, 'DEL', full); // by another tool, on the new master
      await waitFor('the DEL to reach b', async () => (await b!.get(key)) === undefined);
      step('DEL reached b');
    } finally {
      await Promise.all([a!.close(), b!.close()]);
      await Promise.all([ca.quit(), cb.quit()]);
    }
  }
});

describe.each(ioredisMajors)('CLIENT renamed away (rename-command CLIENT ""), ioredis %i', (major) => {
  let renamed: SpawnedRedis;
  beforeAll(async () => {
    renamed = await spawnRedis({ args: ['--rename-command', 'CLIENT', ''] });
  });
  afterAll(async () => {
    await renamed?.dispose();
  });

  it('falls back to the bus: a write by the other cache still reaches the local copy', async () => {
    const [ra, rb] = [newRedisClient(major, renamed.url), newRedisClient(major, renamed.url)];
    const ns = namespace(`ren${major}`);
    const [x, y] = [ra, rb].map((redis) => createQueryCache({ redis, namespace: ns, ttl: 60, local: {} }));
    try {
      await waitFor('the bus to serve', async () => [x!, y!].every((c) => c.stats().local?.serving === true));
      expect(y!.stats().local?.mode).toBe('bus');
      await x!.set('k', 'v1');
      await waitFor('a local copy', async () => {
        const before = y!.stats().localHits;
        await y!.get('k');
        return y!.stats().localHits > before;
      });
      await x!.set('k', 'v2');
      await waitFor('the write to reach y', async () => (await y!.get('k')) === 'v2');
    } finally {
      await Promise.all([x!.close(), y!.close()]);
      await Promise.all([ra.quit(), rb.quit()]);
    }
  });
});

describe('local tier over memoryStore (one process)', () => {
  it('serves locally and drops its copy on its own writes and invalidations', async () => {
    const c = createQueryCache({ store: memoryStore(), namespace: 'mem', ttl: 60, local: {} });
    expect(c.stats().local).toMatchObject({ mode: 'process', serving: true });
    await c.set('a', 1, { tags: ['t'] });
    await c.get('a');
    await sleep(5);
    expect(await c.get('a')).toBe(1);
    expect(c.stats().localHits).toBe(1);
    await c.invalidateTags(['t']);
    expect(await c.get('a')).toBeUndefined();
    await c.set('b', 1);
    await c.get('b');
    await sleep(5);
    await c.set('b', 2);
    expect(await c.get('b')).toBe(2);
  });
});
