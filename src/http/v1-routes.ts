/**
 * The `/v1/...` routes of `--http`: interactive queries of the running job's stores, and writes
 * into its log. A stable contract (README, "HTTP"):
 *
 * - `GET /v1/stores/{store}/keys/{key}[?keyEncoding=string|json|hex|base64][&partition=P]`:
 *   `{ store, key, partition, changelogOffset, restoring[, restored, total], value[, valueEncoding] }`;
 *   a missing key is 404 with the same fields (and `code`, `message`).
 * - `GET /v1/stores/{store}/range?from=&to=&limit=[&keyEncoding=]` (`[from, to)`, either end
 *   open when absent) and `GET /v1/stores/{store}/prefix/{prefix}[?limit=]`: every partition,
 *   merged in serialized-key order, at most `limit` (default 1000, at most 10,000) entries:
 *   `{ store, entries: [{ key, value, partition }], more, restoring, partitions: [...] }`. With
 *   `more`, ask again from just after the last key.
 * - `POST /v1/topics/{topic}/records` with `{ "records": [{ key, value, partition?, headers?,
 *   timestamp?, keyEncoding?, valueEncoding? }] }`: every record is checked first, then all are
 *   appended as one unit (one log transaction): a bad body appends nothing.
 *
 * Values come back as JSON (through the store's value serde); bytes as base64 with
 * `valueEncoding: "base64"`, bigints as decimal strings. What the answers mean (current values,
 * the changelog offset, restoring) is runtime/store-queries.ts. Errors are `{ code, message }`:
 * 404 unknown store or topic, 400 a key the serde refuses (naming it) or a malformed body, 413 a
 * body over `maxBodyBytes`, 503 while the job shuts down. Unexpected errors go to the app's error
 * handler (a 500 without a stack).
 */
import type { Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { appendAll } from '../log/append-all.js';
import type { AppendRecord, Log } from '../log/types.js';
import {
  DEFAULT_QUERY_LIMIT,
  type Endpoint,
  KEY_ENCODINGS,
  type KeyAnswer,
  type KeyEncoding,
  type PartitionState,
  type RangeAnswer,
  type RangeOptions,
  type StoreQueries,
  type TaskDirectory,
} from '../runtime/control/index.js';
import { changelogTopic } from '../runtime/job.js';
import { compareBytes } from '../util/bytes.js';
import { EddyError, type ErrorCode, InvalidArgumentError, UnavailableError } from '../util/errors.js';
import { partitionForKey } from '../util/murmur2.js';
import { forwardGet, withParams } from './query-forwarding.js';

export interface V1Deps {
  /** The job's interactive queries (the same object `runJob` got as `queries`). */
  readonly queries: StoreQueries;
  /** The log the job runs on (the same `SharedLog` `runJob` got), for POST records. */
  readonly log: Log;
  /** Largest POST body accepted (default 16 MiB). */
  readonly maxBodyBytes?: number;
  /**
   * Kafka with several workers: who owns which partition. Queries of a partition this process
   * does not run are forwarded to its owner (query-forwarding.ts), or answered from a standby
   * copy here when the owner cannot answer. Absent: this process answers from its own tasks.
   */
  readonly directory?: TaskDirectory;
  /** The bearer token sent with forwarded queries (the workers share `--http-token`). */
  readonly token?: string;
  /** How long a forwarded query may take (default 3000 ms). */
  readonly forwardTimeoutMs?: number;
}

/** How the routes answer an Eddy error they raise; anything else is the app's 500. */
function statusOf(code: ErrorCode): 400 | 404 | 409 | 413 | 503 | undefined {
  switch (code) {
    case 'EDDY_UNKNOWN_STORE':
    case 'EDDY_UNKNOWN_TOPIC':
      return 404;
    case 'EDDY_SERDE':
    case 'EDDY_INVALID_ARGUMENT':
    case 'EDDY_INVALID_KEY':
    case 'EDDY_INVALID_VALUE':
    case 'EDDY_UNKNOWN_PARTITION':
      return 400;
    case 'EDDY_TOPIC_EXISTS':
    case 'EDDY_TOPIC_MISMATCH':
      return 409;
    case 'EDDY_RECORD_TOO_LARGE':
      return 413;
    case 'EDDY_UNAVAILABLE':
    case 'EDDY_LOG_CLOSED':
    case 'EDDY_STORE_CLOSED':
      return 503;
    default:
      return undefined;
  }
}

type Handler = (c: Context) => Response | Promise<Response>;

function answering(fn: Handler): Handler {
  return async (c) => {
    try {
      return await fn(c);
    } catch (err) {
      const status = err instanceof EddyError ? statusOf(err.code) : undefined;
      if (status === undefined) throw err;
      return c.json({ code: (err as EddyError).code, message: (err as EddyError).message }, status);
    }
  };
}

function param(c: Context, name: string): string {
  return c.req.param(name) as string;
}

function keyEncodingOf(c: Context): KeyEncoding {
  const raw = c.req.query('keyEncoding') ?? 'string';
  if (!(KEY_ENCODINGS as readonly string[]).includes(raw)) {
    throw new InvalidArgumentError(`keyEncoding must be one of ${KEY_ENCODINGS.join(', ')}, got "${raw}"`);
  }
  return raw as KeyEncoding;
}

/** `partitions=0,2,5`: only these partitions (undefined: all). */
function partitionsQuery(c: Context): number[] | undefined {
  const raw = c.req.query('partitions');
  if (raw === undefined) return undefined;
  if (!/^\d+(,\d+)*$/.test(raw)) {
    throw new InvalidArgumentError(`query parameter partitions must be a list like 0,2,5, got "${raw}"`);
  }
  return raw.split(',').map(Number);
}

function intQuery(c: Context, name: string): number | undefined {
  const raw = c.req.query(name);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw))
    throw new InvalidArgumentError(`query parameter ${name} must be a non-negative integer, got "${raw}"`);
  return Number(raw);
}

function stateJson(s: PartitionState): Record<string, unknown> {
  return s.restoring
    ? {
        partition: s.partition,
        changelogOffset: s.changelogOffset,
        restoring: true,
        restored: s.restored,
        total: s.total,
      }
    : { partition: s.partition, changelogOffset: s.changelogOffset, restoring: false };
}

function rangeJson(
  q: StoreQueries,
  a: RangeAnswer,
  raw = false,
  self: { worker?: string } = {},
): Record<string, unknown> {
  return {
    store: a.store,
    entries: a.entries.map((e) => {
      const key = q.decode(a.store, 'key', e.key);
      const value = q.decode(a.store, 'value', e.value);
      return {
        key: key.json,
        ...(key.binary ? { keyEncoding: 'base64' } : {}),
        value: value.json,
        ...(value.binary ? { valueEncoding: 'base64' } : {}),
        partition: e.partition,
        ...(raw ? { rawKey: Buffer.from(e.key).toString('base64') } : {}),
      };
    }),
    more: a.more,
    restoring: a.partitions.some((p) => p.restoring),
    partitions: a.partitions.map((p) => ({ ...stateJson(p), servedBy: 'owner', ...self })),
    ...self,
  };
}

interface BodyRecord {
  key?: unknown;
  value?: unknown;
  partition?: unknown;
  headers?: unknown;
  timestamp?: unknown;
  keyEncoding?: unknown;
  valueEncoding?: unknown;
}

function bytesOf(v: unknown, encoding: unknown, what: string): Buffer {
  if (encoding !== undefined && encoding !== 'utf8' && encoding !== 'base64') {
    throw new InvalidArgumentError(`${what}Encoding must be "utf8" or "base64"`);
  }
  if (encoding === 'base64') {
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) {
      throw new InvalidArgumentError(`${what} is not base64 text (${what}Encoding "base64")`);
    }
    return Buffer.from(v, 'base64');
  }
  return Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8');
}

/** Checks and converts one record of a POST body; throws naming its index. */
function toRecord(r: unknown, i: number): { record: AppendRecord; partition?: number } {
  const fail = (why: string): never => {
    throw new InvalidArgumentError(`records[${i}]: ${why}; nothing was appended`);
  };
  if (r === null || typeof r !== 'object' || Array.isArray(r)) return fail('not an object');
  const b = r as BodyRecord;
  for (const k of Object.keys(b)) {
    if (!['key', 'value', 'partition', 'headers', 'timestamp', 'keyEncoding', 'valueEncoding'].includes(k)) {
      fail(
        `unknown field "${k}" (known: key, value, partition, headers, timestamp, keyEncoding, valueEncoding)`,
      );
    }
  }
  if (!('value' in b)) fail('missing "value" (null writes a tombstone)');
  try {
    const record: AppendRecord = {
      key: b.key === undefined || b.key === null ? null : bytesOf(b.key, b.keyEncoding, 'key'),
      value: b.value === null ? null : bytesOf(b.value, b.valueEncoding, 'value'),
    };
    if (b.headers !== undefined) {
      if (b.headers === null || typeof b.headers !== 'object' || Array.isArray(b.headers))
        fail('"headers" must be an object');
      const headers: Record<string, Buffer> = {};
      for (const [name, value] of Object.entries(b.headers as object)) {
        if (typeof value !== 'string') fail(`header "${name}" must be a string`);
        headers[name] = Buffer.from(value as string, 'utf8');
      }
      record.headers = headers;
    }
    if (b.timestamp !== undefined) {
      if (typeof b.timestamp !== 'number' || !Number.isSafeInteger(b.timestamp) || b.timestamp < 0) {
        fail('"timestamp" must be milliseconds since the epoch');
      }
      record.timestamp = b.timestamp as number;
    }
    let partition: number | undefined;
    if (b.partition !== undefined) {
      if (typeof b.partition !== 'number' || !Number.isInteger(b.partition) || b.partition < 0) {
        fail('"partition" must be a non-negative integer');
      }
      partition = b.partition as number;
    }
    return { record, partition };
  } catch (err) {
    if (err instanceof InvalidArgumentError && !err.message.startsWith('records[')) fail(err.message);
    throw err;
  }
}

/** Registers the `/v1/...` routes on `app` (a hook for the HTTP server's `routes`). */
export function v1Routes(deps: V1Deps): (app: Hono) => void {
  const { queries, log } = deps;
  const maxBodyBytes = deps.maxBodyBytes ?? 16 * 1024 * 1024;
  let roundRobin = 0;
  const live = (): void => {
    if (queries.isShutDown)
      throw new UnavailableError('the job is shutting down; queries and writes are no longer answered');
  };

  const forwardOptions = { token: deps.token, timeoutMs: deps.forwardTimeoutMs };
  // read at each request: a Kafka worker knows its directory only once its server listens
  const selfOf = (): { worker?: string } =>
    deps.directory === undefined ? {} : { worker: deps.directory.self.worker };

  const keyJson = (
    c: Context,
    store: string,
    keyText: string,
    a: KeyAnswer,
    servedBy: 'owner' | 'standby',
    extra: Record<string, unknown> = {},
  ): Response => {
    const base = { store, key: keyText, ...stateJson(a), servedBy, ...selfOf(), ...extra };
    if (a.value === undefined) {
      return c.json(
        {
          code: 'EDDY_NOT_FOUND',
          message: `key ${JSON.stringify(keyText)} is not in store "${store}" (partition ${a.partition}${a.restoring ? ', which is still restoring' : ''})`,
          ...base,
        },
        404,
      );
    }
    const value = queries.decode(store, 'value', a.value);
    return c.json({ ...base, value: value.json, ...(value.binary ? { valueEncoding: 'base64' } : {}) });
  };

  /**
   * A range or prefix answer: from this process's partitions (`local=1`, the embedded log, or
   * every partition open here), else over every partition of the job: the local ones read here,
   * the others fetched from their owners (one request per owner), merged in serialized-key order.
   */
  const scanJson = async (
    c: Context,
    store: string,
    scan: (partitions: readonly number[] | undefined) => RangeAnswer,
    limitQuery: number | undefined,
  ): Promise<Response> => {
    const raw = c.req.query('raw') === '1';
    const asked = partitionsQuery(c);
    const directory = deps.directory;
    const self = selfOf();
    if (directory === undefined || c.req.query('local') === '1') {
      return c.json(rangeJson(queries, scan(asked), raw, self));
    }
    const n = queries.partitions;
    if (n === undefined) throw new UnavailableError('the job is starting: its partitions are not known yet');
    queries.openPartitions(store); // checks the store name
    const local: number[] = [];
    const remote = new Map<string, { owner: Endpoint; partitions: number[] }>();
    for (let p = 0; p < n; p++) {
      if (asked !== undefined && !asked.includes(p)) continue;
      if (queries.isOpen(store, p)) {
        local.push(p);
        continue;
      }
      const loc = await directory.locate(p);
      const owner = loc.owner;
      if (owner === undefined || owner.url === directory.self.url) {
        throw new UnavailableError(
          `partition ${p} of store "${store}" has no owner that answers queries (${loc.error ?? (loc.rebalancing ? 'the group is rebalancing' : 'no worker owns it right now')}); try again shortly`,
        );
      }
      let group = remote.get(owner.url);
      if (group === undefined) remote.set(owner.url, (group = { owner, partitions: [] }));
      group.partitions.push(p);
    }
    const parts: Record<string, unknown>[] = [];
    const merged: { rawKey: Buffer; entry: Record<string, unknown> }[] = [];
    let more = false;
    if (local.length > 0) {
      const a = rangeJson(queries, scan(local), true, self);
      parts.push(...(a.partitions as Record<string, unknown>[]));
      for (const e of a.entries as Record<string, unknown>[])
        merged.push({ rawKey: Buffer.from(e.rawKey as string, 'base64'), entry: e });
      more ||= a.more as boolean;
    }
    const answers = await Promise.all(
      [...remote.values()].map(async ({ owner, partitions }) => ({
        owner,
        r: await forwardGet(
          owner,
          withParams(c.req.url, { local: '1', raw: '1', partitions: partitions.join(',') }),
          forwardOptions,
        ),
      })),
    );
    for (const { owner, r } of answers) {
      if (!r.ok) throw new UnavailableError(`${r.reason}; try again shortly`);
      if (r.status !== 200) return c.json(r.body, r.status as 400);
      for (const p of (r.body.partitions ?? []) as Record<string, unknown>[]) {
        parts.push({ ...p, servedBy: 'forwarded', worker: owner.worker });
      }
      for (const e of (r.body.entries ?? []) as Record<string, unknown>[]) {
        merged.push({ rawKey: Buffer.from(String(e.rawKey), 'base64'), entry: e });
      }
      more ||= r.body.more === true;
    }
    merged.sort((a, b) => compareBytes(a.rawKey, b.rawKey));
    const limit = limitQuery ?? DEFAULT_QUERY_LIMIT;
    if (merged.length > limit) {
      more = true;
      merged.length = limit;
    }
    parts.sort((a, b) => (a.partition as number) - (b.partition as number));
    return c.json({
      store,
      entries: merged.map(({ entry }) => {
        if (raw) return entry;
        const { rawKey: _, ...rest } = entry;
        return rest;
      }),
      more,
      restoring: parts.some((p) => p.restoring === true),
      partitions: parts,
      ...self,
    });
  };

  return (app) => {
    app.get(
      '/v1/stores/:store/keys/:key{.+}',
      answering(async (c) => {
        live();
        const store = param(c, 'store');
        const keyText = param(c, 'key');
        const bytes = queries.encodeKey(store, keyText, keyEncodingOf(c));
        const p = intQuery(c, 'partition') ?? queries.partitionOf(bytes);
        const directory = deps.directory;
        if (directory === undefined || c.req.query('local') === '1' || queries.isOpen(store, p)) {
          return keyJson(c, store, keyText, queries.getBytes(store, bytes, p), 'owner');
        }
        // another worker owns the partition: forward, else a standby here, else 503
        const path = withParams(c.req.url, { local: '1', partition: String(p) });
        let why = '';
        for (let attempt = 0; attempt < 2; attempt++) {
          const loc = await directory.locate(p, { refresh: attempt > 0 });
          if (loc.owner === undefined || loc.owner.url === directory.self.url) {
            why = loc.error ?? (loc.rebalancing ? 'the group is rebalancing' : 'no worker owns it right now');
            if (attempt === 0) continue;
            break;
          }
          const r = await forwardGet(loc.owner, path, forwardOptions);
          if (r.ok) {
            return c.json(
              { ...r.body, servedBy: 'forwarded', worker: loc.owner.worker, via: directory.self.worker },
              r.status as 200,
            );
          }
          why = r.reason;
        }
        if (queries.hasStandby(store, p)) {
          const a = queries.getStandbyBytes(store, bytes, p);
          const end = await log.endOffset(changelogTopic(queries.job.name, store), p);
          const applied = a.changelogOffset ?? -1;
          const staleness = {
            appliedOffset: a.changelogOffset,
            changelogEnd: end,
            lag: Math.max(0, end - 1 - applied),
          };
          return keyJson(c, store, keyText, a, 'standby', { standby: staleness, ownerError: why });
        }
        throw new UnavailableError(
          `partition ${p} of store "${store}" is not served by this worker and its owner cannot answer: ${why}; try again shortly`,
        );
      }),
    );
    app.get(
      '/v1/stores/:store/range',
      answering(async (c) => {
        live();
        const store = param(c, 'store');
        const options: RangeOptions = {
          from: c.req.query('from'),
          to: c.req.query('to'),
          limit: intQuery(c, 'limit'),
          keyEncoding: keyEncodingOf(c),
        };
        return scanJson(
          c,
          store,
          (partitions) => queries.range(store, { ...options, partitions }),
          options.limit,
        );
      }),
    );
    app.get(
      '/v1/stores/:store/prefix/:prefix{.+}',
      answering(async (c) => {
        live();
        const store = param(c, 'store');
        const prefix = param(c, 'prefix');
        const limit = intQuery(c, 'limit');
        const keyEncoding = keyEncodingOf(c);
        return scanJson(
          c,
          store,
          (partitions) => queries.prefix(store, prefix, { limit, keyEncoding, partitions }),
          limit,
        );
      }),
    );
    app.post(
      '/v1/topics/:topic/records',
      bodyLimit({
        maxSize: maxBodyBytes,
        onError: (c) =>
          c.json(
            {
              code: 'EDDY_RECORD_TOO_LARGE',
              message: `the body is larger than ${maxBodyBytes} bytes; nothing was appended (send fewer records per request)`,
            },
            413,
          ),
      }),
      answering(async (c) => {
        live();
        const topic = param(c, 'topic');
        let body: unknown;
        try {
          body = JSON.parse(await c.req.text());
        } catch (err) {
          throw new InvalidArgumentError(
            `the body is not JSON (${(err as Error).message}); nothing was appended`,
          );
        }
        const list = (body as { records?: unknown } | null)?.records;
        if (!Array.isArray(list)) {
          throw new InvalidArgumentError(
            'the body must be {"records": [{"key": …, "value": …}, …]}; nothing was appended',
          );
        }
        const records = list.map(toRecord);
        const { config } = await log.describeTopic(topic);
        const byPartition = new Map<number, AppendRecord[]>();
        for (let i = 0; i < records.length; i++) {
          const { record, partition } = records[i];
          let p = partition;
          if (p === undefined) {
            p =
              record.key != null
                ? partitionForKey(record.key, config.partitions)
                : roundRobin++ % config.partitions;
          } else if (p >= config.partitions) {
            throw new InvalidArgumentError(
              `records[${i}]: partition ${p} does not exist: topic "${topic}" has partitions 0..${config.partitions - 1}; nothing was appended`,
            );
          }
          let group = byPartition.get(p);
          if (group === undefined) byPartition.set(p, (group = []));
          group.push(record);
        }
        live();
        const results = await appendAll(log, topic, byPartition);
        return c.json({
          topic,
          count: records.length,
          partitions: [...results].sort((a, b) => a[0] - b[0]).map(([partition, r]) => ({ partition, ...r })),
        });
      }),
    );
  };
}
