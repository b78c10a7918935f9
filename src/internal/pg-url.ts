/**
 * The database a Postgres URL names, percent-decoded, as a postgres.js option; `{}` when the path needs no
 * decoding or the URL cannot be parsed (postgres.js then reads it as before).
 *
 * postgres.js takes the URL path as written, so `/Odd%20db` asks the server for a database called
 * `Odd%20db` (the same gap it has for hosts: porsager/postgres#1057). libpq and node-postgres decode it.
 *
 * @example
 * databaseFromUrl('postgres://app@db/Odd%20db'); // { database: 'Odd db' }
 * databaseFromUrl('postgres://app@db/app'); // {}
 */
export function databaseFromUrl(url: string | undefined): { database: string } | Record<string, never> {
  if (!url) return {};
  try {
    const path = new URL(url).pathname.slice(1);
    return path.includes('%') ? { database: decodeURIComponent(path) } : {};
  } catch {
    return {};
  }
}
