/**
 * How the Kafka log's clients connect: TLS and SASL options (`KafkaLogOptions.tls`, `.sasl`) turned
 * into `@platformatic/kafka`'s connection options, once at open. Certificate and key files are read
 * then (a missing or non-PEM file is a `ConfigError` line naming the key and path); password and
 * token files are checked then and read again at each authentication, so a rotated token is picked
 * up by the next connection. Every secret becomes a function in the client options, so no printed
 * options object shows it, and no message here ever includes one.
 *
 * `connectFailureHint` turns the usual failures of a secured connection (an unknown CA, a wrong
 * name, refused credentials, TLS against a plaintext port) into the sentence that says what to fix.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { ConnectionOptions } from '@platformatic/kafka';
import { type EddyError, KafkaError } from '../../util/errors.js';
import { protocolIds, toEddyError } from './kafka-errors.js';
import type { KafkaLogOptions, KafkaSaslOptions, KafkaTlsOptions, Secret } from './options.js';

/** The connection options every client and connection pool of the log is given. */
export type KafkaConnection = Pick<ConnectionOptions, 'tls' | 'tlsServerName' | 'sasl'>;

/** Reads `path` as PEM for key `at`; a problem line (never the content) when it cannot. */
function pemFile(path: string, at: string, problems: string[]): Buffer | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    problems.push(`${at}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    return undefined;
  }
  if (!bytes.includes('-----BEGIN ')) {
    problems.push(
      `${at}: ${path} is not PEM (no "-----BEGIN" line); convert it, e.g. openssl x509 -outform pem`,
    );
    return undefined;
  }
  return bytes;
}

function one(
  o: object,
  inline: string,
  fromFile: string,
  at: string,
  problems: string[],
): 'inline' | 'file' | undefined {
  const has = (k: string) => (o as Record<string, unknown>)[k] !== undefined;
  if (has(inline) && has(fromFile)) {
    problems.push(`${at}${inline}, ${at}${fromFile}: give one of them, not both`);
    return undefined;
  }
  return has(inline) ? 'inline' : has(fromFile) ? 'file' : undefined;
}

function tlsOptions(tls: KafkaTlsOptions, problems: string[]): KafkaConnection {
  const out: NonNullable<KafkaConnection['tls']> = {};
  const pick = (inline: 'ca' | 'cert' | 'key', fromFile: 'caFile' | 'certFile' | 'keyFile') => {
    const which = one(tls, inline, fromFile, 'tls.', problems);
    if (which === 'inline') return tls[inline];
    if (which === 'file') return pemFile(tls[fromFile] as string, `tls.${fromFile}`, problems);
    return undefined;
  };
  const ca = pick('ca', 'caFile');
  const cert = pick('cert', 'certFile');
  const key = pick('key', 'keyFile');
  if ((tls.cert ?? tls.certFile) !== undefined && (tls.key ?? tls.keyFile) === undefined)
    problems.push('tls.key: a client certificate needs its private key (tls.key or tls.keyFile)');
  if ((tls.key ?? tls.keyFile) !== undefined && (tls.cert ?? tls.certFile) === undefined)
    problems.push('tls.cert: a private key needs its client certificate (tls.cert or tls.certFile)');
  if (ca !== undefined) out.ca = ca;
  if (cert !== undefined) out.cert = cert;
  if (key !== undefined) out.key = key;
  if (tls.passphrase !== undefined) out.passphrase = tls.passphrase;
  if (tls.rejectUnauthorized !== undefined) out.rejectUnauthorized = tls.rejectUnauthorized;
  return tls.servername === undefined ? { tls: out } : { tls: out, tlsServerName: tls.servername };
}

/** A secret as a provider: the function given, a constant, or a file read at each call. */
function provider(
  value: Secret | undefined,
  path: string | undefined,
  at: string,
  problems: string[],
): (() => string | Promise<string>) | undefined {
  if (typeof value === 'function') return value;
  if (typeof value === 'string') return () => value;
  if (path === undefined) return undefined;
  try {
    if (readFileSync(path, 'utf8').trim() === '') problems.push(`${at}: ${path} is empty`);
  } catch (err) {
    problems.push(`${at}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return async () => (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
}

function saslOptions(sasl: KafkaSaslOptions, problems: string[]): KafkaConnection['sasl'] {
  const mechanism = sasl.mechanism;
  if (mechanism === 'OAUTHBEARER') {
    for (const k of ['username', 'password', 'passwordFile'] as const) {
      if (sasl[k] !== undefined)
        problems.push(`sasl.${k}: OAUTHBEARER takes a token (sasl.token or sasl.tokenFile), not a ${k}`);
    }
    one(sasl, 'token', 'tokenFile', 'sasl.', problems);
    const token = provider(sasl.token, sasl.tokenFile, 'sasl.tokenFile', problems);
    if (token === undefined)
      problems.push('sasl.token: OAUTHBEARER needs a token (sasl.token or sasl.tokenFile)');
    return { mechanism, token };
  }
  for (const k of ['token', 'tokenFile'] as const) {
    if (sasl[k] !== undefined)
      problems.push(`sasl.${k}: only OAUTHBEARER takes a token; ${mechanism} takes a username and password`);
  }
  if (sasl.username === undefined) problems.push(`sasl.username: ${mechanism} needs a username`);
  one(sasl, 'password', 'passwordFile', 'sasl.', problems);
  const password = provider(sasl.password, sasl.passwordFile, 'sasl.passwordFile', problems);
  if (password === undefined)
    problems.push(`sasl.password: ${mechanism} needs a password (sasl.password or sasl.passwordFile)`);
  return { mechanism, username: sasl.username, password };
}

/**
 * The client's connection options for `tls` and `sasl` (already schema-checked), and a printable
 * summary; problems (unreadable files, missing or conflicting keys) go to `problems`.
 */
export function resolveConnection(
  tls: KafkaLogOptions['tls'],
  sasl: KafkaLogOptions['sasl'],
  problems: string[],
): { client: KafkaConnection; security: string } {
  let client: KafkaConnection = {};
  if (tls === true) client = { tls: {} };
  else if (typeof tls === 'object') client = tlsOptions(tls, problems);
  const parts = [client.tls === undefined ? 'plaintext' : 'TLS'];
  if (sasl !== undefined) {
    client.sasl = saslOptions(sasl, problems);
    parts.push(
      `SASL/${sasl.mechanism}${sasl.username === undefined ? '' : ` as ${JSON.stringify(sasl.username)}`}`,
    );
  }
  return { client, security: parts.join(', ') };
}

interface ErrorLike {
  code?: string;
  message?: string;
  errors?: unknown[];
  cause?: unknown;
}

/** Every error in `err`'s chain (`cause`, `errors`), outermost first. */
function chain(err: unknown, out: ErrorLike[] = [], depth = 0): ErrorLike[] {
  if (err === null || typeof err !== 'object' || depth > 6) return out;
  const e = err as ErrorLike;
  out.push(e);
  if (Array.isArray(e.errors)) for (const inner of e.errors) chain(inner, out, depth + 1);
  if (e.cause !== undefined) chain(e.cause, out, depth + 1);
  return out;
}

const CA_CODES = [
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
];

/**
 * The error of a failed first connection (`what` failed, over `resolved.security`): with a
 * sentence saying what to fix when the failure is about TLS or SASL (then not retriable).
 */
export function connectFailure(
  err: unknown,
  what: string,
  options: Pick<KafkaLogOptions, 'sasl'>,
  resolved: { security: string },
): EddyError {
  const error = toEddyError(err, `${what} (${resolved.security})`);
  const hint = connectFailureHint(err, options.sasl);
  return hint === undefined
    ? error
    : new KafkaError(`${error.message}; ${hint}`, { cause: err, retriable: false });
}

/** What to do about a failed secured connection, or undefined when it is not about TLS or SASL. */
export function connectFailureHint(err: unknown, sasl: KafkaSaslOptions | undefined): string | undefined {
  const errors = chain(err);
  const codes = errors.map((e) => e.code);
  const tlsCode = codes.find(
    (c) =>
      c !== undefined &&
      (CA_CODES.includes(c) || c.startsWith('CERT_') || c === 'ERR_TLS_CERT_ALTNAME_INVALID'),
  );
  if (tlsCode !== undefined && CA_CODES.includes(tlsCode)) {
    return `TLS: the broker's certificate is not signed by a trusted CA (${tlsCode}); give the CA that signed it (tls.caFile, --kafka-ca)`;
  }
  if (tlsCode === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `TLS: the broker's certificate does not name the host connected to (${tlsCode}); connect by a name it carries, or set tls.servername (--kafka-servername)`;
  }
  if (tlsCode !== undefined) return `TLS: the broker's certificate was refused (${tlsCode})`;
  const ids = protocolIds(err);
  // a refused OAUTHBEARER token: the broker's error challenge, which the client answers out of turn
  const refused =
    codes.includes('PLT_KFK_AUTHENTICATION') ||
    ids.includes('SASL_AUTHENTICATION_FAILED') ||
    (sasl !== undefined && ids.includes('ILLEGAL_SASL_STATE'));
  if (refused) {
    const mechanism = sasl?.mechanism ?? 'SASL';
    return mechanism === 'OAUTHBEARER'
      ? 'SASL/OAUTHBEARER authentication failed: the broker refused the token; check the token (sasl.token, sasl.tokenFile, --kafka-token-file, $EDDY_KAFKA_TOKEN) and that it has not expired'
      : `SASL/${mechanism} authentication${sasl?.username === undefined ? '' : ` as ${JSON.stringify(sasl.username)}`} failed: the broker refused the username or password (or the mechanism); check them (sasl.password, sasl.passwordFile, --kafka-password-file, $EDDY_KAFKA_PASSWORD)`;
  }
  if (errors.some((e) => e.message?.includes('TLS handshake failed'))) {
    return 'TLS handshake failed: the port does not speak TLS; use its TLS listener, or connect without TLS';
  }
  return undefined;
}
