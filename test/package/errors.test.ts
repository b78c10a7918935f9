import { describe, expect, it } from 'vitest';
import {
  ClientClosedError,
  ConfigError,
  DbkitError,
  isDbkitError,
  MissingPeerDependencyError,
  TimeoutError,
} from '../../src/errors.js';
import { importLib, isNotFound, loadPeer, packageOf } from '../../src/internal/import-lib.js';
import { redactSecrets, redactUrl } from '../../src/internal/redact.js';

describe('errors', () => {
  it('carry a class name, a code, context and the cause', () => {
    const cause = new Error('driver said no');
    const e = new TimeoutError('redis GET', 50, { cause, context: { key: 'k' } });
    expect(e).toBeInstanceOf(DbkitError);
    expect(e.name).toBe('TimeoutError');
    expect(e.code).toBe('E_TIMEOUT');
    expect(e.context).toEqual({ operation: 'redis GET', timeoutMs: 50, key: 'k' });
    expect(e.cause).toBe(cause);
    expect(e.message).toBe('redis GET did not finish within 50 ms');
  });

  it('isDbkitError checks the code, and recognises a copy from another build by shape', () => {
    const e = new ClientClosedError('postgres');
    expect(isDbkitError(e)).toBe(true);
    expect(isDbkitError(e, 'E_CLIENT_CLOSED')).toBe(true);
    expect(isDbkitError(e, 'E_CONFIG')).toBe(false);
    // What the CJS copy of the class looks like to the ESM copy: an Error with code and context.
    const foreign = Object.assign(new Error('x'), { code: 'E_CONFIG', context: {} });
    expect(isDbkitError(foreign, 'E_CONFIG')).toBe(true);
    expect(isDbkitError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(false);
    expect(isDbkitError({ code: 'E_CONFIG', context: {} })).toBe(false);
    expect(isDbkitError(new ConfigError('bad'), 'E_CONFIG')).toBe(true);
  });
});

describe('importLib', () => {
  it('loads an installed peer once and returns the same module', () => {
    const a = importLib<typeof import('postgres')>('postgres', 'test');
    expect(typeof a).toBe('function');
    expect(importLib('postgres', 'test')).toBe(a);
    const pg = importLib<typeof import('drizzle-orm/pg-core')>('drizzle-orm/pg-core', 'test');
    expect(typeof pg.pgTable).toBe('function');
  });

  it('names the npm package to install when a peer is missing', () => {
    const notFound = Object.assign(new Error("Cannot find module '@dbkit-test/not-installed/sub'"), {
      code: 'MODULE_NOT_FOUND',
    });
    let err: unknown;
    try {
      loadPeer('@dbkit-test/not-installed/sub', 'The widget feature', () => {
        throw notFound;
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingPeerDependencyError);
    expect((err as MissingPeerDependencyError).code).toBe('E_MISSING_PEER');
    // The package, not the subpath: `npm install x/sub` would mean a GitHub repository.
    expect((err as MissingPeerDependencyError).packageName).toBe('@dbkit-test/not-installed');
    expect((err as Error).message).toMatch(/npm install @dbkit-test\/not-installed$/);
    expect((err as Error).message).toContain('The widget feature');
    expect((err as Error).cause).toBe(notFound);
  });

  // Every way a missing module surfaces: Node's require and import, webpack's runtime stub, esbuild's ESM shim.
  const missing: Array<[string, Error]> = [
    [
      'node require',
      Object.assign(new Error("Cannot find module 'x-peer'\nRequire stack:"), { code: 'MODULE_NOT_FOUND' }),
    ],
    [
      'node import',
      Object.assign(new Error("Cannot find package 'x-peer' imported from /a.js"), {
        code: 'ERR_MODULE_NOT_FOUND',
      }),
    ],
    ['webpack', Object.assign(new Error("Cannot find module 'x-peer'"), { code: 'MODULE_NOT_FOUND' })],
    ['esbuild esm shim', new Error('Dynamic require of "x-peer" is not supported')],
  ];
  it.each(missing)('recognises a missing peer from %s', (_how, error) => {
    expect(isNotFound(error, 'x-peer')).toBe(true);
    expect(() =>
      loadPeer('x-peer', 'f', () => {
        throw error;
      }),
    ).toThrow(MissingPeerDependencyError);
  });

  it('rethrows, unchanged, an error from an installed peer or from one of its own dependencies', () => {
    const inner = Object.assign(new Error("Cannot find module 'its-own-dep'"), { code: 'MODULE_NOT_FOUND' });
    const boom = new TypeError('peer failed to initialise');
    for (const e of [inner, boom]) {
      expect(isNotFound(e, 'x-peer2')).toBe(false);
      expect(() =>
        loadPeer('x-peer2', 'f', () => {
          throw e;
        }),
      ).toThrow(e);
    }
  });

  it('maps module specifiers to their npm package', () => {
    expect(packageOf('drizzle-orm/pg-core')).toBe('drizzle-orm');
    expect(packageOf('@google-cloud/bigquery')).toBe('@google-cloud/bigquery');
    expect(packageOf('@scope/pkg/deep/path')).toBe('@scope/pkg');
    expect(packageOf('postgres')).toBe('postgres');
  });
});

describe('redaction', () => {
  it('removes passwords from connection strings', () => {
    expect(redactUrl('postgres://app:s3cr3t@db.internal:5432/orders')).toBe(
      'postgres://app:***@db.internal:5432/orders',
    );
    expect(redactUrl('redis://:hunter2@cache:6379/0')).toBe('redis://:***@cache:6379/0');
    expect(redactUrl('rediss://default:p%40ss@h')).toBe('rediss://default:***@h');
    expect(redactUrl('postgres://db/x?user=a&password=top&sslmode=require')).toBe(
      'postgres://db/x?user=a&password=***&sslmode=require',
    );
    expect(redactUrl('connect to postgres://app@db/x failed')).toBe('connect to postgres://app@db/x failed');
  });

  it('removes a password holding an unencoded @ or : whole (ioredis and postgres.js accept one)', () => {
    expect(redactUrl('redis://:p@ss:w@127.0.0.1:6379/0')).toBe('redis://:***@127.0.0.1:6379/0');
    expect(redactUrl('postgres://app:a@b@c:d@db:5432/x and redis://u:x@y@h')).toBe(
      'postgres://app:***@db:5432/x and redis://u:***@h',
    );
    expect(redactSecrets('target redis://:p@ss:w@h:1 said p@ss:w', ['p@ss:w'])).toBe(
      'target redis://:***@h:1 said ***',
    );
  });

  it('removes known secrets wherever they appear', () => {
    expect(redactSecrets('auth failed for password s3cr3t!', ['s3cr3t!'])).toBe(
      'auth failed for password ***',
    );
    expect(redactSecrets('postgres://u:pw1@h/db and pw1', ['pw1'])).toBe('postgres://u:***@h/db and ***');
  });
});
