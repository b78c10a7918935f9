/** Construction of the optional GCP clients from a resolved config (loaded lazily with importLib). */

import type { BigQuery, BigQueryOptions } from '@google-cloud/bigquery';
import type { Firestore } from '@google-cloud/firestore';
import type { PubSub } from '@google-cloud/pubsub';
import type { Storage } from '@google-cloud/storage';
import { importLib } from '../internal/import-lib.js';
import type { ResolvedClientManagerConfig } from './config.js';

const project = (c: ResolvedClientManagerConfig) => (c.projectId ? { projectId: c.projectId } : {});

/** A BigQuery client with the configured project and apiEndpoint. */
export function newBigQuery(c: ResolvedClientManagerConfig): BigQuery {
  const { BigQuery: BQ } = importLib<typeof import('@google-cloud/bigquery')>(
    '@google-cloud/bigquery',
    'ClientManager.bigquery()',
  );
  const endpoint = c.bigqueryApiEndpoint;
  const own = (c.bigquery ?? {}) as Record<string, unknown>;
  const bringsAuth = 'authClient' in own || 'credentials' in own || 'keyFilename' in own;
  return new BQ({
    ...project(c),
    ...(endpoint ? { apiEndpoint: endpoint } : {}),
    // Unlike Storage, the BigQuery client authenticates even against a custom endpoint: it probes the GCE
    // metadata server (about a second, with a warning) and would send the machine's Google token to it.
    // A plain-HTTP loopback endpoint is a local test server or proxy: talk to it without credentials.
    ...(endpoint && !bringsAuth && isLocalHttpEndpoint(endpoint)
      ? { authClient: passThroughAuth() as NonNullable<BigQueryOptions['authClient']> }
      : {}),
    ...c.bigquery,
  });
}

/** True for http:// endpoints on loopback (127.0.0.0/8, ::1, localhost). */
export function isLocalHttpEndpoint(endpoint: string): boolean {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    return false;
  }
  if (u.protocol !== 'http:') return false;
  const h = u.hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

function passThroughAuth(): unknown {
  // google-auth-library is the BigQuery client's own dependency: importLib resolves it from there, not from dbkit.
  const { PassThroughClient } = importLib<typeof import('google-auth-library')>(
    'google-auth-library',
    'ClientManager.bigquery() with a local endpoint',
  );
  return new PassThroughClient();
}

/** A Pub/Sub client; emulator mode when an emulator host is configured. */
export function newPubSub(c: ResolvedClientManagerConfig): PubSub {
  const { PubSub: PS } = importLib<typeof import('@google-cloud/pubsub')>(
    '@google-cloud/pubsub',
    'ClientManager.pubsub()',
  );
  return new PS({
    ...project(c),
    ...(c.pubsubEmulatorHost ? { apiEndpoint: c.pubsubEmulatorHost, emulatorMode: true } : {}),
    ...c.pubsub,
  });
}

/** A Firestore client; host + ssl:false when an emulator host is configured. */
export function newFirestore(c: ResolvedClientManagerConfig): Firestore {
  const { Firestore: FS } = importLib<typeof import('@google-cloud/firestore')>(
    '@google-cloud/firestore',
    'ClientManager.firestore()',
  );
  return new FS({
    ...project(c),
    ...(c.firestoreEmulatorHost ? { host: c.firestoreEmulatorHost, ssl: false } : {}),
    ...c.firestore,
  });
}

/** A Cloud Storage client. */
export function newStorage(c: ResolvedClientManagerConfig): Storage {
  const { Storage: ST } = importLib<typeof import('@google-cloud/storage')>(
    '@google-cloud/storage',
    'ClientManager.storage()',
  );
  return new ST({ ...project(c), ...c.storage });
}
