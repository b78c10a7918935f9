import { ConfigError } from '../errors.js';
import { defaultCacheKey } from './keys.js';
import type { CacheSetOptions } from './options.js';
import type { QueryCache } from './query-cache.js';

// Method syntax makes the argument check bivariant, so `key: (id: number) => ...` fits `cached()` options
// given before TypeScript knows the decorated method's parameters.
type ArgsFn<A extends unknown[], R> = { fn(...args: A): R }['fn'];

/** Options of `cache.wrap(fn, options)`. */
export interface WrapOptions<A extends unknown[]> extends Omit<CacheSetOptions, 'tags'> {
  /**
   * The cache key: a fixed string, or a function of the arguments.
   * @default SHA-256 of namespace, `name` and the stable-stringified arguments (`this` excluded)
   */
  key?: string | ArgsFn<A, string>;
  /**
   * Tags, fixed or derived from the arguments.
   * @default []
   */
  tags?: readonly string[] | ArgsFn<A, readonly string[]>;
  /**
   * Name used in the default key (set it when the code is minified or the function is anonymous).
   * @default fn.name (for methods: `ClassName.method`)
   */
  name?: string;
}

/** Options of `@cache.cached(options)`. */
export type CachedOptions<A extends unknown[] = unknown[]> = WrapOptions<A>;

/**
 * What `cache.cached()` returns: a method decorator for standard TS 5 decorators and for `experimentalDecorators`.
 * Both signatures only accept a method returning a Promise (a synchronous method would silently become async),
 * and `A`, the method's parameters, is inferred from the decorated method, so `key`/`tags` callbacks are typed.
 */
export type CachedMethodDecorator<A extends unknown[] = unknown[]> = (<This, R>(
  value: (this: This, ...args: A) => Promise<R>,
  context: ClassMethodDecoratorContext<This, (this: This, ...args: A) => Promise<R>>,
) => (this: This, ...args: A) => Promise<R>) &
  (<R>(
    target: object,
    propertyKey: string | symbol,
    descriptor: TypedPropertyDescriptor<(...args: A) => Promise<R>>,
  ) => void);

/** Implementation of `cache.wrap()`. */
export function wrapFunction<A extends unknown[], R, This>(
  cache: QueryCache,
  fn: (this: This, ...args: A) => R | Promise<R>,
  options: WrapOptions<A>,
  nameOf?: (self: This) => string,
): (this: This, ...args: A) => Promise<Awaited<R>> {
  if (typeof fn !== 'function') throw new ConfigError('wrap() needs a function');
  const fixedName = options.name ?? fn.name;
  if (!options.key && !fixedName && !nameOf) {
    throw new ConfigError(
      'wrap() of an anonymous function needs `key` or `name` (the default key uses the name)',
    );
  }
  const { key, tags, name: _name, ...rest } = options;
  return async function cachedCall(this: This, ...args: A): Promise<Awaited<R>> {
    const k =
      typeof key === 'string'
        ? key
        : typeof key === 'function'
          ? key(...args)
          : defaultCacheKey(cache.options.namespace, options.name ?? nameOf?.(this) ?? fixedName, args);
    const t = typeof tags === 'function' ? tags(...args) : tags;
    return cache.getOrSet<Awaited<R>>(k, (() => fn.apply(this, args)) as () => Promise<Awaited<R>>, {
      ...rest,
      ...(t ? { tags: t } : {}),
    });
  };
}

function className(self: unknown, fallback: string): string {
  if (typeof self === 'function') return self.name || fallback; // static method
  const ctor = (self as { constructor?: { name?: string } } | null)?.constructor;
  return ctor?.name || fallback;
}

/** Implementation of `cache.cached()`: detects the decorator flavour from its arguments. */
export function createCachedDecorator<A extends unknown[]>(
  cache: QueryCache,
  options: CachedOptions<A>,
): CachedMethodDecorator<A> {
  function decorator(...args: unknown[]): unknown {
    const [a, b, c] = args;
    if (typeof b === 'object' && b !== null && 'kind' in b) {
      // Standard (TC39) decorator: (value, context).
      const context = b as ClassMethodDecoratorContext;
      if (context.kind !== 'method') throw new ConfigError('@cached() decorates methods only');
      const method = String(context.name);
      return wrapFunction(
        cache,
        a as (...x: A) => unknown,
        options,
        (self) => `${className(self, 'anonymous')}.${method}`,
      );
    }
    // experimentalDecorators: (target, propertyKey, descriptor).
    const descriptor = c as PropertyDescriptor | undefined;
    if (!descriptor || typeof descriptor.value !== 'function') {
      throw new ConfigError('@cached() decorates methods only');
    }
    const method = String(b);
    const owner = className(a, 'anonymous');
    descriptor.value = wrapFunction(cache, descriptor.value, options, () => `${owner}.${method}`);
    return descriptor;
  }
  return decorator as unknown as CachedMethodDecorator<A>;
}
