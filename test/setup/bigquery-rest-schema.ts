/**
 * The BigQuery v2 REST schema, read at test time from the `types.d.ts` that `@google-cloud/bigquery` ships (generated
 * by Google from the API's discovery document; its header names the discovery revision). Nothing here is typed in
 * by hand: every resource, field name, field type, string enum and field description comes from that file, parsed
 * with the TypeScript compiler API. fake-gcp-rest.ts checks request bodies against it, and bigquery-rest-rules.ts
 * reads the documented limits (lengths, enum lists) out of the field descriptions.
 *
 * This module must not import anything from src/: the fake is the independent check on dbkit's own validation.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ts from 'typescript';

/** A REST field type as types.d.ts declares it. */
export type RestType =
  | { kind: 'string' }
  | { kind: 'number' }
  | { kind: 'boolean' }
  | { kind: 'any' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'ref'; name: string }
  | { kind: 'array'; items: RestType }
  | { kind: 'map'; values: RestType }
  | { kind: 'object'; fields: Readonly<Record<string, RestField>> };

/** One field: its type and its description (the JSDoc the generator copied from the discovery document). */
export interface RestField {
  type: RestType;
  doc: string;
}

export interface RestSchema {
  /** Absolute path of the types.d.ts read. */
  source: string;
  /** `@google-cloud/bigquery` version that shipped it. */
  clientVersion: string;
  /** "Discovery Revision: 20260328" from the file header. */
  revision: string;
  /** Every `type IName = ...` of `namespace bigquery`, keyed without the leading `I` (`Table`, `TableFieldSchema`). */
  types: ReadonlyMap<string, RestType>;
  /** Resolves a `ref` (and aliases such as IJsonObject) to its definition. */
  resolve(type: RestType): RestType;
  /** The description of `Type.field.sub...` (throws if the path does not exist: the schema changed). */
  doc(path: string): string;
}

function textOfJsDoc(node: ts.Node): string {
  return ts
    .getJSDocCommentsAndTags(node)
    .map((d) => (ts.isJSDoc(d) ? (ts.getTextOfJSDocComment(d.comment) ?? '') : ''))
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
}

function convert(node: ts.TypeNode, where: string): RestType {
  switch (node.kind) {
    case ts.SyntaxKind.StringKeyword:
      return { kind: 'string' };
    case ts.SyntaxKind.NumberKeyword:
      return { kind: 'number' };
    case ts.SyntaxKind.BooleanKeyword:
      return { kind: 'boolean' };
    case ts.SyntaxKind.AnyKeyword:
    case ts.SyntaxKind.UnknownKeyword:
      return { kind: 'any' };
  }
  if (ts.isParenthesizedTypeNode(node)) return convert(node.type, where);
  if (ts.isArrayTypeNode(node)) return { kind: 'array', items: convert(node.elementType, where) };
  if (ts.isTypeReferenceNode(node)) {
    const name = node.typeName.getText();
    if (name === 'Array' && node.typeArguments?.length === 1)
      return { kind: 'array', items: convert(node.typeArguments[0]!, where) };
    return { kind: 'ref', name: name.replace(/^I(?=[A-Z])/, '') };
  }
  if (ts.isLiteralTypeNode(node) && ts.isStringLiteral(node.literal))
    return { kind: 'enum', values: [node.literal.text] };
  if (ts.isUnionTypeNode(node)) {
    const parts = node.types.map((t) => convert(t, where));
    if (parts.every((p) => p.kind === 'enum'))
      return { kind: 'enum', values: parts.flatMap((p) => (p.kind === 'enum' ? p.values : [])) };
    throw new Error(`bigquery-rest-schema: unsupported union at ${where}`);
  }
  if (ts.isTypeLiteralNode(node)) {
    const fields: Record<string, RestField> = {};
    let index: RestType | undefined;
    for (const m of node.members) {
      if (ts.isPropertySignature(m) && m.type) {
        const name = m.name.getText().replace(/^['"]|['"]$/g, '');
        fields[name] = { type: convert(m.type, `${where}.${name}`), doc: textOfJsDoc(m) };
      } else if (ts.isIndexSignatureDeclaration(m)) {
        index = convert(m.type, `${where}[key]`);
      } else throw new Error(`bigquery-rest-schema: unsupported member at ${where}`);
    }
    if (index && Object.keys(fields).length === 0) return { kind: 'map', values: index };
    if (index) throw new Error(`bigquery-rest-schema: mixed index signature at ${where}`);
    return { kind: 'object', fields };
  }
  throw new Error(`bigquery-rest-schema: unsupported type node ${ts.SyntaxKind[node.kind]} at ${where}`);
}

let cached: RestSchema | undefined;

/** Parses the shipped types.d.ts once per process. */
export function loadBigQueryRestSchema(): RestSchema {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('@google-cloud/bigquery/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string };
  const source = join(dirname(pkgPath), 'build/src/types.d.ts');
  const text = readFileSync(source, 'utf8');
  const file = ts.createSourceFile(source, text, ts.ScriptTarget.Latest, true);
  const ns = file.statements.find(
    (s): s is ts.ModuleDeclaration => ts.isModuleDeclaration(s) && s.name.getText() === 'bigquery',
  );
  if (!ns?.body || !ts.isModuleBlock(ns.body))
    throw new Error(`bigquery-rest-schema: no "namespace bigquery" in ${source}`);
  const types = new Map<string, RestType>();
  for (const s of ns.body.statements) {
    if (!ts.isTypeAliasDeclaration(s)) continue; // nested namespaces hold per-method query parameters
    const name = s.name.text.replace(/^I(?=[A-Z])/, '');
    types.set(name, convert(s.type, name));
  }
  const revision = /Discovery Revision:\s*(\d+)/.exec(text)?.[1];
  if (!revision || types.size < 100)
    throw new Error(`bigquery-rest-schema: ${source} does not look like the generated v2 types`);
  const resolve = (t: RestType): RestType => {
    for (let seen = 0; t.kind === 'ref'; seen++) {
      const next = types.get(t.name);
      if (!next || seen > 10) throw new Error(`bigquery-rest-schema: unknown type ${t.name}`);
      t = next;
    }
    return t;
  };
  const doc = (path: string): string => {
    const [typeName, ...fields] = path.split('.');
    let t = types.get(typeName ?? '');
    let d = '';
    for (const f of fields) {
      let o = t ? resolve(t) : undefined;
      while (o?.kind === 'array') o = resolve(o.items);
      const field = o?.kind === 'object' ? o.fields[f] : undefined;
      if (!field) throw new Error(`bigquery-rest-schema: ${path} is not in ${source}`);
      t = field.type;
      d = field.doc;
    }
    return d;
  };
  cached = { source, clientVersion: pkg.version, revision, types, resolve, doc };
  return cached;
}

/**
 * Structural check of `value` against `type`, the way the API's JSON parser rejects a body: the first unknown field
 * or wrong JSON type, as a message like the real one, or undefined. `null` is accepted everywhere (proto3 JSON: "use
 * the default", which the API reads as "clear this field" in a patch). `lenient` lists `Type.field` paths where the
 * API takes a JSON number although types.d.ts says string (see fake-gcp-rest.ts for why each is there).
 */
export function checkRestValue(
  schema: RestSchema,
  type: RestType,
  value: unknown,
  path: string,
  lenient: ReadonlySet<string> = new Set(),
  owner = '',
): string | undefined {
  if (value === null) return undefined;
  const t = schema.resolve(type);
  const wrong = (want: string) => `Invalid value at '${path}' (${want}), ${JSON.stringify(value)}`;
  switch (t.kind) {
    case 'any':
      return undefined;
    case 'string':
      if (typeof value === 'string') return undefined;
      if (lenient.has(owner) && (typeof value === 'number' || typeof value === 'boolean')) return undefined;
      return wrong('TYPE_STRING');
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? undefined : wrong('TYPE_NUMBER');
    case 'boolean':
      return typeof value === 'boolean' ? undefined : wrong('TYPE_BOOL');
    case 'enum':
      return typeof value === 'string' && t.values.includes(value)
        ? undefined
        : wrong(`TYPE_ENUM, one of ${t.values.join(', ')}`);
    case 'array': {
      if (!Array.isArray(value)) return wrong('TYPE_ARRAY');
      for (const [i, x] of value.entries()) {
        const p = checkRestValue(schema, t.items, x, `${path}[${i}]`, lenient, owner);
        if (p) return p;
      }
      return undefined;
    }
    case 'map':
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return wrong('TYPE_MESSAGE');
      const typeName = type.kind === 'ref' ? type.name : owner;
      for (const [k, x] of Object.entries(value)) {
        const field = t.kind === 'map' ? { type: t.values } : t.fields[k];
        if (!field)
          return `Invalid JSON payload received. Unknown name "${k}" at '${path}': Cannot find field.`;
        const p = checkRestValue(schema, field.type, x, `${path}.${k}`, lenient, `${typeName}.${k}`);
        if (p) return p;
      }
      return undefined;
    }
    case 'ref':
      return undefined; // unreachable: resolve() never returns a ref
  }
}
