/**
 * Turns the Kafka client's errors into Eddy's: every failure of a Kafka call reaches the caller as
 * a `KafkaError` whose message names the operation, topic and partition and the broker's error ids
 * (`NOT_LEADER_OR_FOLLOWER`, `PRODUCER_FENCED`, …), with `retriable` from the client and the
 * original error as `cause`. Eddy errors pass through unchanged. A fencing answer
 * (`PRODUCER_FENCED`, `INVALID_PRODUCER_EPOCH`) becomes a `FencedError` (`EDDY_FENCED`).
 */
import { EddyError, FencedError, KafkaError, RecordTooLargeError } from '../../util/errors.js';

interface ClientError {
  message?: string;
  apiId?: string;
  canRetry?: boolean;
  code?: string;
  errors?: unknown[];
  cause?: unknown;
}

/** Every broker error id (`apiId`) inside `err`, nested errors included. */
export function protocolIds(err: unknown, out: string[] = [], depth = 0): string[] {
  if (err === null || typeof err !== 'object' || depth > 5) return out;
  const e = err as ClientError;
  if (typeof e.apiId === 'string' && !out.includes(e.apiId)) out.push(e.apiId);
  if (Array.isArray(e.errors)) for (const inner of e.errors) protocolIds(inner, out, depth + 1);
  if (e.cause !== undefined) protocolIds(e.cause, out, depth + 1);
  return out;
}

/** True when the broker answered `err` with the error `id` (e.g. `TOPIC_ALREADY_EXISTS`). */
export function hasProtocolError(err: unknown, id: string): boolean {
  return protocolIds(err).includes(id);
}

/** The deepest distinct message inside `err` (the client wraps retries in "… failed N times"). */
function innermostMessage(err: unknown, depth = 0): string | undefined {
  if (err === null || typeof err !== 'object' || depth > 5) return undefined;
  const e = err as ClientError;
  const inner = Array.isArray(e.errors) && e.errors.length > 0 ? e.errors[e.errors.length - 1] : e.cause;
  return innermostMessage(inner, depth + 1) ?? (depth > 0 ? e.message : undefined);
}

/** Network failures and timeouts: worth another try. */
const NETWORK_CODES = ['PLT_KFK_NETWORK', 'PLT_KFK_TIMEOUT'];
const FENCED = ['PRODUCER_FENCED', 'INVALID_PRODUCER_EPOCH'];

export function isRetriable(err: unknown, depth = 0): boolean {
  if (err === null || typeof err !== 'object' || depth > 5) return false;
  const e = err as ClientError;
  if (typeof e.apiId === 'string') return e.canRetry === true;
  if (typeof e.code === 'string' && NETWORK_CODES.includes(e.code)) return true;
  if (Array.isArray(e.errors) && e.errors.length > 0)
    return e.errors.every((inner) => isRetriable(inner, depth + 1));
  return false;
}

/**
 * The broker's refusal of a batch as too large (MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE) as a
 * `RecordTooLargeError` naming the append's largest record (`largestOf`, asked only then); undefined
 * for any other error.
 */
export function tooLargeError(
  err: unknown,
  topic: string,
  partition: number,
  count: number,
  largestOf: () => { bytes: number; index: number },
): RecordTooLargeError | undefined {
  const ids = protocolIds(err);
  const id = ids.find((i) => i === 'MESSAGE_TOO_LARGE' || i === 'RECORD_LIST_TOO_LARGE');
  if (id === undefined) return undefined;
  const largest = largestOf();
  const which =
    count === 1 ? 'the record' : `record ${largest.index} of ${count} of the append, the largest,`;
  return new RecordTooLargeError(
    `${which} for topic "${topic}" partition ${partition} is ${largest.bytes} bytes (key, value and headers): the broker refused its batch as too large (${id}), so nothing was written. Make the record smaller, or raise the topic's max.message.bytes (and the broker's message.max.bytes)`,
    { cause: err },
  );
}

/**
 * `err` as an Eddy error: Eddy errors unchanged, a fencing answer a `FencedError`, anything else a
 * `KafkaError` about `what`.
 */
export function toEddyError(err: unknown, what: string): EddyError {
  if (err instanceof EddyError) return err;
  const ids = protocolIds(err);
  let detail = err instanceof Error ? err.message : String(err);
  const inner = innermostMessage(err);
  if (inner !== undefined && inner !== detail) detail += ` (last: ${inner})`;
  let message = `${what} failed: ${detail}${ids.length > 0 ? ` (${ids.join(', ')})` : ''}`;
  if (ids.includes('INVALID_RECORD')) message += '; note that records of a compacted topic need a key';
  if (ids.some((id) => FENCED.includes(id))) {
    message += '; another producer with the same transactionalId has taken over (fenced): this one must stop';
    return new FencedError(message, { cause: err });
  }
  return new KafkaError(message, { cause: err, retriable: isRetriable(err) });
}
