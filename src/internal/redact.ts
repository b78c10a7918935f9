/**
 * Removes passwords from connection strings and from any text that embeds one.
 * `postgres://user:secret@host/db` becomes `postgres://user:***@host/db`; `redis://:secret@h` becomes `redis://:***@h`.
 */
// The password runs to the last `@` of the authority: drivers (ioredis, postgres.js via WHATWG URL) accept an
// unencoded `@` or `:` in it (`redis://:p@ss:w@host` has the password `p@ss:w`), so stopping at the first `@`
// would leave the rest of the password in the text.
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)([^:/?#@\s]*):([^/?#\s]*)@/gi;
const PASSWORD_PARAM = /([?&](?:password|pass|pwd)=)([^&\s]*)/gi;

export function redactUrl(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1$2:***@').replace(PASSWORD_PARAM, '$1***');
}

/** Redacts every occurrence of the given secrets (exact strings) plus URL credentials in `text`. */
export function redactSecrets(text: string, secrets: ReadonlyArray<string | undefined> = []): string {
  let out = redactUrl(text);
  for (const s of secrets) {
    if (s && s.length >= 3) out = out.split(s).join('***');
  }
  return out;
}
