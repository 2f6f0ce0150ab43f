/**
 * Configuration schemas: every options surface of Eddy (`defineJob`, `openStore`, `openKafkaLog`,
 * `eddy run`'s configuration) is one TypeBox schema, checked once when the job, store, log or
 * command is set up (never on a hot path) by a compiled validator that reports every bad key at
 * once: unknown keys (with a "did you mean" for a near miss), wrong types, values out of range.
 * Combinations a schema cannot say (`writeBatchSize` with `cacheSize: 0`) are checked by the
 * surface's own code after the schema, and all problems go into one `ConfigError`.
 *
 * TypeBox schemas are JSON Schema objects, so `eddy run`'s schema is also the JSON Schema file users
 * point their editor at (`schema/eddy-config.schema.json`).
 *
 * Problem lines read `key: expected <what>, got <value>` (or `key: unknown key …`,
 * `key: required, <what>`), where `<what>` comes from the schema: its `expected` annotation when it
 * has one, else its type and bounds. A schema annotated `secret: true` never shows its value.
 */
import { Kind, type SchemaOptions, type Static, type TSchema, Type, TypeRegistry } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';
import { editDistance } from './edit-distance.js';

export { type Static, type TSchema, Type };

/** Annotations Eddy's schemas may carry besides JSON Schema's own. */
export interface EddySchemaOptions extends SchemaOptions {
  /** What a valid value is, in words: `host:port[,host:port…]`. */
  expected?: string;
  /** Never show the value in a message (passwords, tokens). */
  secret?: boolean;
}

/** A `{ encode, decode }` object (a serde or codec); not expressible in JSON Schema. */
export function Codec<T>(options: EddySchemaOptions = {}): TSchema & { static: T } {
  return Type.Unsafe<T>({
    [Kind]: 'EddyCodec',
    expected: 'a serde ({ encode, decode }), e.g. serdes.string',
    ...options,
  }) as TSchema & { static: T };
}

/** An object with the methods `methods` (e.g. a changelog sink's `send` and `flush`). */
export function WithMethods<T>(methods: readonly string[], options: EddySchemaOptions = {}) {
  return Type.Unsafe<T>({ [Kind]: 'EddyMethods', methods, ...options });
}

TypeRegistry.Set('EddyCodec', (_schema, value) => hasMethods(value, ['encode', 'decode']));
TypeRegistry.Set<{ methods: string[] }>('EddyMethods', (schema, value) => hasMethods(value, schema.methods));

function hasMethods(value: unknown, methods: readonly string[]): boolean {
  if (typeof value !== 'object' || value === null) return false;
  for (const m of methods) if (typeof (value as Record<string, unknown>)[m] !== 'function') return false;
  return true;
}

/** A compiled schema: `check` is a fast boolean test, `problems` lists every problem in words. */
export interface Checker<T extends TSchema> {
  readonly schema: T;
  check(value: unknown): value is Static<T>;
  /**
   * One line per problem (the first per key), each starting with the key's name as `key(path)`
   * renders it (default: dotted, `stores.carts.cacheSize`, `inputs[0]`).
   */
  problems(value: unknown, key?: (path: string) => string): string[];
}

/** Compiles `schema` on first use (so importing a module costs nothing until it validates). */
export function compile<T extends TSchema>(schema: T): Checker<T> {
  let compiled: TypeCheck<T> | undefined;
  const get = (): TypeCheck<T> => {
    compiled ??= TypeCompiler.Compile(schema);
    return compiled;
  };
  return {
    schema,
    check: (value): value is Static<T> => get().Check(value),
    problems(value, key = dotted) {
      const c = get();
      if (c.Check(value)) return [];
      const seen = new Set<string>();
      const out: string[] = [];
      for (const error of c.Errors(value)) {
        if (seen.has(error.path)) continue;
        seen.add(error.path);
        out.push(describeError(error, key));
      }
      return out;
    },
  };
}

/** `/stores/carts/cacheSize` → `stores.carts.cacheSize`; `/inputs/0` → `inputs[0]`. */
export function dotted(path: string): string {
  let out = '';
  for (const raw of path.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(part) ? `[${part}]` : out === '' ? part : `.${part}`;
  }
  return out === '' ? '(the options)' : out;
}

function describeError(error: ValueError, key: (path: string) => string): string {
  const at = key(error.path);
  const schema = error.schema as TSchema & EddySchemaOptions;
  if (error.type === ValueErrorType.ObjectAdditionalProperties) {
    const name = error.path.slice(error.path.lastIndexOf('/') + 1);
    const known = Object.keys((schema as { properties?: object }).properties ?? {});
    return `${at}: unknown key${suggestion(name, known)} (known: ${known.join(', ')})`;
  }
  if (error.type === ValueErrorType.ObjectRequiredProperty) {
    const parent = (schema as { properties?: Record<string, TSchema> }).properties;
    const name = error.path.slice(error.path.lastIndexOf('/') + 1);
    const inner = parent?.[name];
    return `${at}: required${inner === undefined ? '' : `, ${expectation(inner)}`}`;
  }
  if (error.value === undefined && error.type !== ValueErrorType.Undefined) {
    return `${at}: required, ${expectation(schema)}`;
  }
  return `${at}: expected ${expectation(schema)}, got ${show(error.value, schema.secret === true)}`;
}

/** `; did you mean commitMs?` when `name` is close to one of `known`. */
export function suggestion(name: string, known: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = 3;
  const lower = name.toLowerCase();
  for (const k of known) {
    const d = k.toLowerCase() === lower ? 0 : editDistance(lower, k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best === undefined ? '' : `; did you mean ${best}?`;
}

/** What a valid value of `schema` is, in words. */
export function expectation(schema: TSchema): string {
  const s = schema as TSchema & EddySchemaOptions & Record<string, unknown>;
  if (typeof s.expected === 'string') return s.expected;
  if (Array.isArray(s.anyOf)) {
    const options = s.anyOf as TSchema[];
    if (options.every((o) => 'const' in o)) {
      const names = options.map((o) => JSON.stringify((o as unknown as { const: unknown }).const));
      return names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
    }
    return options.map(expectation).join(' or ');
  }
  if ('const' in s) return JSON.stringify(s.const);
  switch (s.type) {
    case 'integer':
      return `an integer${range(s)}`;
    case 'number':
      return `a number${range(s)}`;
    case 'boolean':
      return 'true or false';
    case 'string':
      return s.minLength === 1 ? 'a non-empty string' : 'a string';
    case 'array': {
      const items = s.items as TSchema | undefined;
      const min = typeof s.minItems === 'number' && s.minItems > 0 ? `at least ${s.minItems} ` : '';
      return `an array of ${min}${items === undefined ? 'values' : expectation(items)}`;
    }
    case 'object':
      return 'an object';
  }
  if (s[Kind] === 'Function') return 'a function';
  return 'a valid value';
}

function range(s: Record<string, unknown>): string {
  const min = s.minimum as number | undefined;
  const max = s.maximum as number | undefined;
  const exclusiveMin = s.exclusiveMinimum as number | undefined;
  if (min !== undefined && max !== undefined) return ` in ${min}..${max}`;
  if (min !== undefined) return ` >= ${min}`;
  if (exclusiveMin !== undefined) return ` > ${exclusiveMin}`;
  if (max !== undefined) return ` <= ${max}`;
  return '';
}

/** A value for a message: short, and hidden when secret. */
export function show(value: unknown, secret = false): string {
  if (secret) return '(hidden)';
  if (value === undefined) return 'nothing';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The object without its `undefined` values (so defaults fill them). */
export function definedOnly<T extends object>(o: T): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as Partial<T>;
}
