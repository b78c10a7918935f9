import { describe, expect, it } from 'vitest';
import {
  ClientClosedError,
  ConfigError,
  DbkitError,
  isDbkitError,
  MissingPeerDependencyError,
  TimeoutError,
} from '../../src/errors.js';
import { importLib } from '../../src/internal/import-lib.js';
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
    const a = importLib<typeof import('msgpackr')>('msgpackr', 'test');
    expect(typeof a.pack).toBe('function');
    expect(importLib('msgpackr', 'test')).toBe(a);
  });

  it('names the package to install when a peer is missing', () => {
    let err: unknown;
    try {
      importLib('@dbkit-test/not-installed', 'The widget feature');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingPeerDependencyError);
    expect((err as MissingPeerDependencyError).code).toBe('E_MISSING_PEER');
    expect((err as MissingPeerDependencyError).packageName).toBe('@dbkit-test/not-installed');
    expect((err as Error).message).toContain('npm install @dbkit-test/not-installed');
    expect((err as Error).message).toContain('The widget feature');
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

  it('removes known secrets wherever they appear', () => {
    expect(redactSecrets('auth failed for password s3cr3t!', ['s3cr3t!'])).toBe(
      'auth failed for password ***',
    );
    expect(redactSecrets('postgres://u:pw1@h/db and pw1', ['pw1'])).toBe('postgres://u:***@h/db and ***');
  });
});
