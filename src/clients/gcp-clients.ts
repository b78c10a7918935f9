/** Construction of the optional GCP clients from a resolved config (loaded lazily with importLib). */
import type { BigQuery } from '@google-cloud/bigquery';
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
  return new BQ({
    ...project(c),
    ...(c.bigqueryApiEndpoint ? { apiEndpoint: c.bigqueryApiEndpoint } : {}),
    ...c.bigquery,
  });
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
