/**
 * Event-bus routing: event-type globs to consolidated topics, subscription filters (Pub/Sub filter syntax,
 * 256-byte limit) and the matching client-side predicate for emulators that store filters but ignore them.
 */
import { ConfigError } from '../errors.js';
import { EventFilterError } from './errors.js';

/** Pub/Sub's limit on a subscription filter, in bytes. */
export const PUBSUB_FILTER_MAX_BYTES = 256;

const EVENT_TYPE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const GLOB = /^[A-Za-z0-9_*-]+(\.[A-Za-z0-9_*-]+)*$/;
// Pub/Sub resource ids: start with a letter, 3-255 chars of letters, digits and - _ . ~ + %, not "goog...".
const RESOURCE_ID = /^(?!goog)[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/;

/** True when `id` is a valid Pub/Sub topic or subscription id. */
export function isValidResourceId(id: string): boolean {
  return RESOURCE_ID.test(id);
}

/** True when `eventType` is dot-separated segments of letters, digits, '_' and '-'. */
export function isValidEventType(eventType: string): boolean {
  return EVENT_TYPE.test(eventType);
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.+');
  return new RegExp(`^${body}$`);
}

/** A compiled route table. `*` in a glob matches one or more characters, dots included. */
export interface EventRouter {
  /** Topic key for `eventType`, or undefined when no route matches. */
  route(eventType: string): string | undefined;
  /** The globs, most specific first. */
  readonly patterns: string[];
}

/** Compiles `routes`; the most specific glob (most literal characters) wins when several match. */
export function compileRoutes(routes: Record<string, string>, topics: ReadonlySet<string>): EventRouter {
  const compiled = Object.entries(routes).map(([glob, topic]) => {
    if (!GLOB.test(glob)) throw new ConfigError(`Route "${glob}" is not an event-type glob (a.b.*)`);
    if (!topics.has(topic)) {
      throw new ConfigError(`Route "${glob}" targets unknown topic "${topic}"`, { context: { glob, topic } });
    }
    return { glob, topic, re: globToRegExp(glob), literal: glob.replace(/\*/g, '').length };
  });
  compiled.sort((a, b) => b.literal - a.literal);
  const cache = new Map<string, string | undefined>();
  return {
    patterns: compiled.map((c) => c.glob),
    route(eventType) {
      if (cache.has(eventType)) return cache.get(eventType);
      const hit = isValidEventType(eventType) ? compiled.find((c) => c.re.test(eventType))?.topic : undefined;
      if (cache.size < 10_000) cache.set(eventType, hit);
      return hit;
    },
  };
}

/** A subscription's generated filter and the equivalent client-side predicate. */
export interface EventFilter {
  /** Pub/Sub filter expression ('' when every event type is wanted). */
  expression: string;
  /** True when the event type passes the filter. */
  matches(eventType: string): boolean;
}

/**
 * Builds the filter for `eventTypes`: exact types become `attributes.eventType = "..."`, a trailing `*`
 * becomes `hasPrefix(...)`; other globs cannot be expressed and throw. Checked against the 256-byte limit.
 */
export function buildEventFilter(
  subscription: string,
  eventTypes: readonly string[] | undefined,
): EventFilter {
  if (!eventTypes || eventTypes.length === 0) return { expression: '', matches: () => true };
  const parts: string[] = [];
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const t of eventTypes) {
    const star = t.indexOf('*');
    if (!GLOB.test(t) || (star !== -1 && star !== t.length - 1)) {
      throw new EventFilterError(
        `Subscription "${subscription}": event type "${t}" cannot be a Pub/Sub filter (only a trailing * is supported)`,
        { context: { subscription, eventType: t } },
      );
    }
    if (star === -1) {
      exact.add(t);
      parts.push(`attributes.eventType = "${t}"`);
    } else {
      prefixes.push(t.slice(0, -1));
      parts.push(`hasPrefix(attributes.eventType, "${t.slice(0, -1)}")`);
    }
  }
  const expression = parts.join(' OR ');
  const bytes = Buffer.byteLength(expression);
  if (bytes > PUBSUB_FILTER_MAX_BYTES) {
    throw new EventFilterError(
      `Subscription "${subscription}": the generated filter is ${bytes} bytes, over Pub/Sub's ${PUBSUB_FILTER_MAX_BYTES}-byte limit; use fewer event types or a prefix glob (a.b.*)`,
      { context: { subscription, bytes, limit: PUBSUB_FILTER_MAX_BYTES, filter: expression } },
    );
  }
  return {
    expression,
    matches: (eventType) => exact.has(eventType) || prefixes.some((p) => eventType.startsWith(p)),
  };
}
