import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, spawnGroup, stopGroup, waitFor } from './processes.js';

/** Where the Google Cloud SDK keeps its emulators (override with CLOUDSDK_ROOT). */
export function sdkRoot(): string {
  return process.env.CLOUDSDK_ROOT ?? '/usr/lib/google-cloud-sdk';
}

export interface SpawnedEmulator {
  readonly host: string; // 127.0.0.1:port, the form PUBSUB_EMULATOR_HOST / FIRESTORE_EMULATOR_HOST take
  dispose(): Promise<void>;
}

async function answersOk(host: string): Promise<boolean> {
  const res = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(1000) });
  return res.ok;
}

async function startEmulator(kind: 'pubsub' | 'firestore'): Promise<SpawnedEmulator> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const root = join(sdkRoot(), 'platform');
  const [cmd, args] =
    kind === 'pubsub'
      ? [join(root, 'pubsub-emulator/bin/cloud-pubsub-emulator'), [`--host=127.0.0.1`, `--port=${port}`]]
      : [
          join(root, 'cloud-firestore-emulator/cloud_firestore_emulator'),
          ['start', `--host=127.0.0.1`, `--port=${port}`],
        ];
  if (!existsSync(cmd)) {
    throw new Error(
      `The ${kind} emulator is not installed at ${cmd}. Install the Google Cloud SDK emulators or set CLOUDSDK_ROOT.`,
    );
  }
  const child = spawnGroup(cmd, args, `${kind}-emulator`);
  try {
    await waitFor(`${kind} emulator on ${host}`, () => answersOk(host), 60_000);
  } catch (e) {
    await stopGroup(child.pid);
    throw e;
  }
  return { host, dispose: () => stopGroup(child.pid, 5000) };
}

/** Starts the Pub/Sub emulator on a free port. */
export const startPubSubEmulator = () => startEmulator('pubsub');
/** Starts the Firestore emulator on a free port. */
export const startFirestoreEmulator = () => startEmulator('firestore');
