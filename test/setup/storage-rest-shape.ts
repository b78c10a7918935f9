/**
 * The Cloud Storage JSON API Bucket fields the lifecycle helper sends (https://cloud.google.com/storage/docs/json_api/v1/buckets).
 * Unlike @google-cloud/bigquery, @google-cloud/storage ships no types generated from the discovery document, so this
 * one resource is written out by hand from the reference page. Any JSON value may be null (proto3 JSON: clear it).
 */
export type Shape =
  | 'string'
  | 'int'
  | 'boolean'
  | 'date'
  | { enum: readonly string[] }
  | { array: Shape }
  | { map: Shape }
  | { object: Record<string, Shape> };

const strings: Shape = { array: 'string' };

export const BUCKET_SHAPE: Shape = {
  object: {
    labels: { map: 'string' },
    storageClass: 'string',
    versioning: { object: { enabled: 'boolean' } },
    lifecycle: {
      object: {
        rule: {
          array: {
            object: {
              action: {
                object: {
                  type: { enum: ['Delete', 'SetStorageClass', 'AbortIncompleteMultipartUpload'] },
                  storageClass: {
                    enum: [
                      'STANDARD',
                      'NEARLINE',
                      'COLDLINE',
                      'ARCHIVE',
                      'MULTI_REGIONAL',
                      'REGIONAL',
                      'DURABLE_REDUCED_AVAILABILITY',
                    ],
                  },
                },
              },
              condition: {
                object: {
                  age: 'int',
                  createdBefore: 'date',
                  customTimeBefore: 'date',
                  daysSinceCustomTime: 'int',
                  daysSinceNoncurrentTime: 'int',
                  isLive: 'boolean',
                  matchesPattern: 'string',
                  matchesPrefix: strings,
                  matchesSuffix: strings,
                  matchesStorageClass: strings,
                  noncurrentTimeBefore: 'date',
                  numNewerVersions: 'int',
                },
              },
            },
          },
        },
      },
    },
  },
};

/** The first problem with `v` against `shape`, as the JSON API words it, or undefined. */
export function checkShape(shape: Shape, v: unknown, path: string): string | undefined {
  if (v === null) return undefined;
  const wrong = (want: string) => `Invalid value at '${path}' (${want}): ${JSON.stringify(v)}`;
  if (shape === 'string') return typeof v === 'string' ? undefined : wrong('TYPE_STRING');
  if (shape === 'boolean') return typeof v === 'boolean' ? undefined : wrong('TYPE_BOOL');
  if (shape === 'int') return Number.isSafeInteger(v) ? undefined : wrong('TYPE_INT32');
  if (shape === 'date')
    return typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v) ? undefined : wrong('date YYYY-MM-DD');
  if ('enum' in shape)
    return typeof v === 'string' && shape.enum.includes(v)
      ? undefined
      : wrong(`one of ${shape.enum.join('|')}`);
  if ('array' in shape) {
    if (!Array.isArray(v)) return wrong('TYPE_ARRAY');
    for (const [i, x] of v.entries()) {
      const p = checkShape(shape.array, x, `${path}[${i}]`);
      if (p) return p;
    }
    return undefined;
  }
  if (typeof v !== 'object' || Array.isArray(v)) return wrong('TYPE_MESSAGE');
  for (const [k, x] of Object.entries(v)) {
    const sub = 'map' in shape ? shape.map : shape.object[k];
    if (!sub) return `Unknown name "${k}" at '${path}': Cannot find field.`;
    const p = checkShape(sub, x, `${path}.${k}`);
    if (p) return p;
  }
  return undefined;
}
