/**
 * A distributed work queue with at-least-once delivery: producers enqueue, consumers receive
 * deliveries and ack them; a delivery not acked within the visibility timeout is delivered again.
 *
 * Commands on `queue-commands` (JSON, keyed by queue name, so one task owns a queue):
 * - `{ op: 'enqueue', queue, payload }`: the message gets the queue's next sequence number (1, 2,
 *   …) and is delivered at once on `queue-deliveries` as `{ queue, seq, payload, delivery: 1 }`.
 * - `{ op: 'ack', queue, seq }`: the message is done and forgotten. Acking an unknown or already
 *   acked seq changes nothing (acks may be duplicated too).
 *
 * Every `windowMs` (1 s) each task ages its unacked messages; one unacked for longer than
 * `VISIBILITY_TIMEOUT_MS` (5 s) is delivered again with `delivery` one higher — never before the
 * timeout, at most one window after it. After `MAX_DELIVERIES` (5) deliveries the message is sent to
 * `queue-dead` and dropped. Redeliveries of a queue go out in seq order. Consumers must be
 * idempotent (the same seq may arrive twice), as with any at-least-once queue.
 *
 * Time is counted in windows, not read from a clock, so the task's decisions survive a restart
 * and replay (each message's age is in the store, changelogged).
 *
 * Stores: `messages` (`<queue>\0<seq, 16 digits>` → `QueuedMessage`): a queue's messages are
 * adjacent and in seq order, so `pendingOf` is one range scan `[<queue>\0, <queue>\x01)`;
 * `queues` (queue → next seq).
 *
 * A bad command (unknown op, no queue, a queue name with NUL, an ack without an integer seq, an
 * enqueue without a payload) throws: `onError: 'dead-letter'`.
 */
// The package's public entry (`eddy` once installed): the only place the example imports Eddy.
import {
  defineJob,
  type IncomingEnvelope,
  type KeyValueStore,
  type MessageCollector,
  type StreamTask,
  serdes,
  type TaskContext,
} from '../../src/index.js';

export const WINDOW_MS = 1_000;
export const VISIBILITY_TIMEOUT_MS = 5_000;
export const MAX_DELIVERIES = 5;

export type QueueCommand =
  | { op: 'enqueue'; queue: string; payload: unknown }
  | { op: 'ack'; queue: string; seq: number };

/** A message of the `messages` store: enqueued, delivered, not yet acked. */
export interface QueuedMessage {
  queue: string;
  seq: number;
  payload: unknown;
  /** How many times it was delivered. */
  deliveries: number;
  /** Time since its last delivery, counted in whole windows. */
  ageMs: number;
}

export interface Delivery {
  queue: string;
  seq: number;
  payload: unknown;
  delivery: number;
}

export class BadQueueCommandError extends Error {
  override name = 'BadQueueCommandError';
}

/** The `messages` store key: `<queue>\0<seq, 16 digits>`, so keys sort by queue, then seq. */
export function messageKey(queue: string, seq: number): string {
  return `${queue}\u0000${String(seq).padStart(16, '0')}`;
}

/** A queue's unacked messages in seq order: one range scan. */
export function pendingOf(messages: KeyValueStore<string, QueuedMessage>, queue: string): QueuedMessage[] {
  const it = messages.range(`${queue}\u0000`, `${queue}\u0001`);
  try {
    return [...it].map((e) => e.value);
  } finally {
    it.close();
  }
}

function deliver(out: MessageCollector, m: QueuedMessage): void {
  const value: Delivery = { queue: m.queue, seq: m.seq, payload: m.payload, delivery: m.deliveries };
  out.send({ topic: 'queue-deliveries', key: m.queue, value });
}

export class QueueTask implements StreamTask {
  private messages!: KeyValueStore<string, QueuedMessage>;
  private queues!: KeyValueStore<string, number>;

  init(ctx: TaskContext): void {
    this.messages = ctx.store('messages');
    this.queues = ctx.store('queues');
  }

  process(envelope: IncomingEnvelope, out: MessageCollector): void {
    const cmd = envelope.value as QueueCommand;
    if (typeof cmd !== 'object' || cmd === null) throw new BadQueueCommandError('command is not an object');
    const { queue } = cmd;
    if (typeof queue !== 'string' || queue === '' || queue.includes('\u0000')) {
      throw new BadQueueCommandError(`${cmd.op} needs a queue name without NUL characters`);
    }
    if (cmd.op === 'enqueue') {
      if (cmd.payload === undefined) throw new BadQueueCommandError(`enqueue to "${queue}" needs a payload`);
      const seq = this.queues.get(queue) ?? 1;
      this.queues.put(queue, seq + 1);
      const message: QueuedMessage = { queue, seq, payload: cmd.payload, deliveries: 1, ageMs: 0 };
      this.messages.put(messageKey(queue, seq), message);
      deliver(out, message);
    } else if (cmd.op === 'ack') {
      if (!Number.isInteger(cmd.seq))
        throw new BadQueueCommandError(`ack on "${queue}" needs an integer seq`);
      this.messages.delete(messageKey(queue, cmd.seq));
    } else {
      throw new BadQueueCommandError(`unknown op ${JSON.stringify((cmd as { op: unknown }).op)}`);
    }
  }

  window(out: MessageCollector): void {
    // Read first, write after: the scan is not disturbed by its own updates.
    const it = this.messages.all();
    const aged: [string, QueuedMessage][] = [];
    try {
      for (const { key, value } of it) aged.push([key, { ...value, ageMs: value.ageMs + WINDOW_MS }]);
    } finally {
      it.close();
    }
    for (const [key, m] of aged) {
      if (m.ageMs > VISIBILITY_TIMEOUT_MS) {
        if (m.deliveries >= MAX_DELIVERIES) {
          this.messages.delete(key);
          out.send({ topic: 'queue-dead', key: m.queue, value: m });
          continue;
        }
        m.deliveries++;
        m.ageMs = 0;
        deliver(out, m);
      }
      this.messages.put(key, m);
    }
  }
}

export default defineJob({
  name: 'distributed-queue',
  inputs: ['queue-commands'],
  outputs: ['queue-deliveries', 'queue-dead'],
  stores: {
    messages: { key: serdes.string, value: serdes.json<QueuedMessage>() },
    queues: { key: serdes.string, value: serdes.json<number>() },
  },
  task: () => new QueueTask(),
  windowMs: WINDOW_MS,
  onError: 'dead-letter',
});
