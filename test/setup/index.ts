export { startFirestoreEmulator, startPubSubEmulator } from './emulators.js';
export {
  createTestDatabase,
  databaseUrl,
  type Sql,
  type TestDatabase,
  terminateBackend,
  terminateDatabaseBackends,
  useTestDatabase,
} from './postgres.js';
export { freePort, sleep, waitFor } from './processes.js';
export {
  type IoredisMajor,
  ioredisLib,
  ioredisMajors,
  keyPrefix,
  newClusterClient,
  newRedisClient,
  type SpawnedCluster,
  type SpawnedRedis,
  spawnRedis,
  spawnRedisCluster,
} from './redis.js';
