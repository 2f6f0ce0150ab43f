/**
 * The messages between the log owner (main thread) and a task thread's `ThreadLog`, and how errors
 * cross the thread boundary.
 *
 * A request is `{ id, op, … }`; its answer `{ id, ok: true, value }` or `{ id, ok: false, error }`.
 * Record batches travel as one transferred `ArrayBuffer` each (record-frames.ts): a read's records
 * in the answer, an append's records in the request — or, when the owner's log takes encoded
 * batches (`Log.appendBuffer`), the thread's `RecordBuffer` bytes as they are (`appendEncoded`), so
 * the owner only writes the batch header and CRC; and a read, as the log's on-disk batches copied
 * once (`readBatches`), which the thread decodes. On the embedded log those bytes go through the
 * thread's transfer slots (transfer-slots.ts) when they fit. Nothing else is large.
 *
 * Errors keep their class and `code`: an `EddyError` is sent as its name, code, message,
 * retriable flag and stack, and rebuilt on the other side as an instance of the same class of
 * `util/errors.ts` (so `instanceof FencedError` and `err.code` work across threads); any other
 * error becomes an `Error` with its message and stack.
 */
import type { EncodedRecords, EncodedRecordsInfo } from '../../log/record-buffer.js';
import * as errors from '../../util/errors.js';
import { EddyError, type ErrorCode } from '../../util/errors.js';

export type LogRequest =
  | { id: number; op: 'createTopic' | 'ensureTopic'; name: string; config: object }
  | { id: number; op: 'deleteTopic' | 'describeTopic'; name: string }
  | { id: number; op: 'listTopics' | 'flush' }
  | { id: number; op: 'append'; topic: string; partition: number; records: ArrayBuffer }
  /** An append of records encoded in the log's batch layout already (`Log.appendBuffer`). */
  | { id: number; op: 'appendEncoded'; topic: string; partition: number; records: EncodedAppend }
  | {
      id: number;
      op: 'read';
      topic: string;
      partition: number;
      offset: number;
      maxRecords?: number;
      maxBytes?: number;
    }
  /**
   * A read as whole batches (`Log.readBatches`): the thread decodes them. Into transfer slot `slot`
   * when they fit (the answer is a `SlotBatches`), else in a transferred buffer (`RecordBatches`).
   */
  | {
      id: number;
      op: 'readBatches';
      topic: string;
      partition: number;
      offset: number;
      maxRecords?: number;
      maxBytes?: number;
      slot?: number;
    }
  | { id: number; op: 'earliestOffset' | 'endOffset'; topic: string; partition: number }
  | { id: number; op: 'wait'; topic: string; partition: number; offset: number; timeoutMs: number }
  /** Ends the `wait` of id `target` (its signal aborted): it answers `false`. */
  | { id: number; op: 'cancel'; target: number }
  | { id: number; op: 'truncate' | 'holdCompaction'; topic: string; partition: number; offset: number }
  | { id: number; op: 'begin'; txnId?: string }
  | { id: number; op: 'txnAppend'; txn: number; topic: string; partition: number; records: ArrayBuffer }
  | {
      id: number;
      op: 'txnAppendEncoded';
      txn: number;
      topic: string;
      partition: number;
      records: EncodedAppend;
    }
  | { id: number; op: 'txnCommit' | 'txnAbort'; txn: number }
  /** The thread's job failed (`onError: 'fail'`): the owner refuses every later commit. */
  | { id: number; op: 'fail'; error: SerializedError };

/**
 * An encoded append's records: in a transferred buffer, or in transfer slot `slot`
 * (transfer-slots.ts), whose length its writer published.
 */
export type EncodedAppend = EncodedRecords | (EncodedRecordsInfo & { readonly slot: number });

/** A `readBatches` answer whose batches are in the request's transfer slot. */
export interface SlotBatches {
  readonly slot: number;
  readonly length: number;
  readonly from: number;
  readonly until: number;
}

export type LogAnswer =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: SerializedError };

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  readonly code?: ErrorCode;
  readonly retriable?: boolean;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof EddyError) {
    return {
      name: err.name,
      message: err.message,
      stack: err.stack,
      code: err.code,
      retriable: err.retriable,
    };
  }
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack };
  return { name: 'Error', message: String(err) };
}

const CLASSES = new Map<string, { prototype: object }>();
for (const value of Object.values(errors)) {
  if (typeof value === 'function' && (value === EddyError || value.prototype instanceof EddyError)) {
    CLASSES.set(value.name, value as { prototype: object });
  }
}

/** The error `s` describes, as an instance of its own class when it is one of Eddy's. */
export function deserializeError(s: SerializedError): Error {
  if (s.code !== undefined) {
    const cls = CLASSES.get(s.name) ?? EddyError;
    const err = Object.create(cls.prototype) as EddyError & {
      -readonly [K in keyof EddyError]: EddyError[K];
    };
    Object.defineProperties(err, {
      message: { value: s.message, writable: true, configurable: true },
      stack: { value: s.stack, writable: true, configurable: true },
      name: { value: s.name, writable: true, configurable: true },
      code: { value: s.code, enumerable: true },
      retriable: { value: s.retriable ?? false, enumerable: true },
    });
    return err;
  }
  const err = new Error(s.message);
  err.name = s.name;
  if (s.stack !== undefined) err.stack = s.stack;
  return err;
}
