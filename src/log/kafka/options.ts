/**
 * Options of the Kafka log: one typed descriptor, one `defaults` object, one schema
 * (`KAFKA_LOG_OPTIONS`) checked once at open, which reports every bad key at once (`ConfigError`).
 * TLS and SASL become the client's connection options in `connection.ts`.
 */
import { ConfigError } from '../../util/errors.js';
import { compile, definedOnly, Type } from '../../util/schema.js';
import { type KafkaConnection, resolveConnection } from './connection.js';

/** A secret: the value, or a function that returns it (called at each authentication). */
export type Secret = string | (() => string | Promise<string>);

/** TLS to the brokers. Certificates and keys are PEM text (`ca`, …) or PEM files (`caFile`, …). */
export interface KafkaTlsOptions {
  /** The CA certificate(s) the brokers' certificates must chain to; default: Node's bundled CAs. */
  ca?: string | Buffer;
  caFile?: string;
  /** The client certificate (mutual TLS); needs `key` or `keyFile`. */
  cert?: string | Buffer;
  certFile?: string;
  /** The client certificate's private key. */
  key?: string | Buffer;
  keyFile?: string;
  /** The private key's passphrase, if it is encrypted. */
  passphrase?: string;
  /** The name the brokers' certificates must carry; default: the host name connected to. */
  servername?: string;
  /** Default true. `false` accepts any certificate: it defeats TLS, use it only to debug. */
  rejectUnauthorized?: boolean;
}

export type SaslMechanism = 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | 'OAUTHBEARER';

/** SASL authentication. PLAIN and SCRAM take a username and password; OAUTHBEARER a token. */
export interface KafkaSaslOptions {
  mechanism: SaslMechanism;
  username?: string;
  password?: Secret;
  /** A file holding the password (trailing newline ignored), read at each authentication. */
  passwordFile?: string;
  /** OAUTHBEARER: the bearer token (a JWT, usually). */
  token?: Secret;
  /** OAUTHBEARER: a file holding the token, read at each authentication (rotated tokens work). */
  tokenFile?: string;
}

export interface KafkaLogOptions {
  /** Bootstrap servers, `host:port` each; at least one. */
  brokers: string[];
  /** The client id the brokers see (logs, quotas); default `eddy`. */
  clientId?: string;
  /** TLS (`true`: with Node's bundled CAs); default off. */
  tls?: boolean | KafkaTlsOptions;
  /** SASL authentication; default none. */
  sasl?: KafkaSaslOptions;
  /** Replicas per partition for topics created without `replicationFactor`; default 1. */
  replicationFactor?: number;
  /**
   * `min.insync.replicas` set on every topic this log creates; default: the broker's setting. With
   * acks=all an append then succeeds only while this many replicas have it.
   */
  minInsyncReplicas?: number;
  /**
   * The transactional id of `beginTransaction()` without an `id`; default `<clientId>-tx`. Give each
   * writer (each task, for exactly-once) its own stable id, e.g. `<job>-task-<p>`: a new producer
   * with the same id fences the old one (its next transactional call fails with `FencedError`) and
   * aborts the old one's open transaction.
   */
  transactionalId?: string;
  /** Timeout of one request (produce, admin, …) in ms; default 30 000. */
  requestTimeoutMs?: number;
  /** Timeout of a TCP connect in ms; default 5 000. */
  connectTimeoutMs?: number;
  /** How often a retriable failure is retried; default 5. */
  retries?: number;
  /** Delay between retries in ms; default 250. */
  retryDelayMs?: number;
  /** Longest single long-poll fetch of `waitForData` in ms (it loops until its timeout); default 5 000. */
  maxWaitMs?: number;
}

export type ResolvedKafkaLogOptions = Required<Omit<KafkaLogOptions, 'minInsyncReplicas' | 'tls' | 'sasl'>> &
  Pick<KafkaLogOptions, 'minInsyncReplicas'> & {
    /**
     * TLS and SASL as the client's connection options (spread into every client and pool). Not
     * enumerable, so printing the options never shows a key or a password.
     */
    readonly connection: KafkaConnection;
    /** How the log connects, for messages: `plaintext`, `TLS`, `TLS, SASL/SCRAM-SHA-256 as "eddy"`. */
    readonly security: string;
  };

export const KAFKA_LOG_DEFAULTS = {
  clientId: 'eddy',
  replicationFactor: 1,
  requestTimeoutMs: 30_000,
  connectTimeoutMs: 5_000,
  retries: 5,
  retryDelayMs: 250,
  maxWaitMs: 5_000,
} as const;

const pem = Type.Union([Type.String({ minLength: 1 }), Type.Uint8Array()], { expected: 'PEM text' });
const file = Type.String({ minLength: 1, expected: 'a file path' });
const secret = Type.Union([Type.String({ minLength: 1 }), Type.Function([], Type.Any())], {
  expected: 'a non-empty string or a function returning it',
  secret: true,
});
const ms = Type.Integer({ minimum: 1, maximum: 2_147_483_647, expected: 'a positive integer of ms' });

export const KAFKA_LOG_OPTIONS = compile(
  Type.Object(
    {
      brokers: Type.Array(Type.String({ pattern: '^[^\\s:]+:\\d{1,5}$', expected: '"host:port"' }), {
        minItems: 1,
        expected: 'a non-empty array of "host:port" strings',
      }),
      clientId: Type.Optional(Type.String({ minLength: 1 })),
      tls: Type.Optional(
        Type.Union(
          [
            Type.Boolean(),
            Type.Object(
              {
                ca: Type.Optional(pem),
                caFile: Type.Optional(file),
                cert: Type.Optional(pem),
                certFile: Type.Optional(file),
                key: Type.Optional(pem),
                keyFile: Type.Optional(file),
                passphrase: Type.Optional(Type.String({ minLength: 1, secret: true })),
                servername: Type.Optional(Type.String({ minLength: 1 })),
                rejectUnauthorized: Type.Optional(Type.Boolean()),
              },
              { additionalProperties: false },
            ),
          ],
          {
            expected:
              'true, false or { ca | caFile, cert | certFile, key | keyFile, passphrase, servername, rejectUnauthorized }',
          },
        ),
      ),
      sasl: Type.Optional(
        Type.Object(
          {
            mechanism: Type.Union([
              Type.Literal('PLAIN'),
              Type.Literal('SCRAM-SHA-256'),
              Type.Literal('SCRAM-SHA-512'),
              Type.Literal('OAUTHBEARER'),
            ]),
            username: Type.Optional(Type.String({ minLength: 1 })),
            password: Type.Optional(secret),
            passwordFile: Type.Optional(file),
            token: Type.Optional(secret),
            tokenFile: Type.Optional(file),
          },
          { additionalProperties: false },
        ),
      ),
      replicationFactor: Type.Optional(Type.Integer({ minimum: 1, maximum: 32_767 })),
      minInsyncReplicas: Type.Optional(Type.Integer({ minimum: 1, maximum: 32_767 })),
      transactionalId: Type.Optional(Type.String({ minLength: 1 })),
      requestTimeoutMs: Type.Optional(ms),
      connectTimeoutMs: Type.Optional(ms),
      retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
      retryDelayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
      maxWaitMs: Type.Optional(ms),
    },
    { additionalProperties: false },
  ),
);

/**
 * The options over the defaults, TLS files read and SASL secrets wrapped; `ConfigError` lists every
 * problem (never a secret's value).
 */
export function resolveKafkaLogOptions(options: KafkaLogOptions): ResolvedKafkaLogOptions {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError('Kafka log options', ['the options must be an object with at least `brokers`']);
  }
  const problems = KAFKA_LOG_OPTIONS.problems(options);
  const { tls, sasl, ...rest } = definedOnly(options);
  const o = { ...KAFKA_LOG_DEFAULTS, ...rest } as Omit<ResolvedKafkaLogOptions, 'connection' | 'security'>;
  if (problems.length === 0 && o.maxWaitMs >= o.requestTimeoutMs) {
    problems.push(
      `maxWaitMs (${o.maxWaitMs}) must be below requestTimeoutMs (${o.requestTimeoutMs}): lower maxWaitMs or raise requestTimeoutMs`,
    );
  }
  const connection = problems.length === 0 ? resolveConnection(tls, sasl, problems) : undefined;
  if (problems.length > 0 || connection === undefined) throw new ConfigError('Kafka log options', problems);
  const resolved = {
    ...o,
    brokers: [...o.brokers],
    transactionalId: options.transactionalId ?? `${o.clientId}-tx`,
    security: connection.security,
  } as ResolvedKafkaLogOptions;
  Object.defineProperty(resolved, 'connection', { value: connection.client, enumerable: false });
  return resolved;
}
