/**
 * The lmdb writer thread's entry point (a `worker_threads` worker started by `lmdb-writer.ts`). It
 * keeps one `LmdbEngine` per store directory it wrote to, writes each request's batch and metadata
 * with `writeSpans` (one synchronous transaction, in key order), sets the request's status word,
 * and replies `{ id, ok }`. Requests run one at a time, in the order they came.
 */
import { parentPort } from 'node:worker_threads';
import { LmdbEngine } from './lmdb-engine.js';
import { setWriteStatus, type WriterReply, type WriterRequest } from './lmdb-writer.js';

const port = parentPort;
if (port === null) throw new Error('lmdb-writer-worker.ts runs as a worker thread (see lmdb-writer.ts)');

const engines = new Map<string, LmdbEngine>();

function write(msg: Extract<WriterRequest, { op: 'write' }>): string | undefined {
  let failure: string | undefined;
  try {
    let engine = engines.get(msg.dir);
    if (engine === undefined) {
      engine = LmdbEngine.open({
        dir: msg.dir,
        name: msg.name,
        ...(msg.mapSize === undefined ? {} : { mapSize: msg.mapSize }),
      });
      engines.set(msg.dir, engine);
    }
    engine.writeSpans([msg.batch], msg.meta);
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    failure = `${err instanceof Error ? err.message : String(err)}${cause === undefined ? '' : `: ${String(cause)}`}`;
  } finally {
    setWriteStatus(msg.status, failure);
  }
  return failure;
}

// one at a time: a release waits for the close of its environment before the next request runs
let queue = Promise.resolve();
port.on('message', (msg: WriterRequest) => {
  queue = queue.then(async () => {
    let reply: WriterReply;
    if (msg.op === 'write') {
      const failure = write(msg);
      reply = failure === undefined ? { id: msg.id, ok: true } : { id: msg.id, ok: false, message: failure };
    } else {
      const engine = engines.get(msg.dir);
      engines.delete(msg.dir);
      try {
        await engine?.close();
        reply = { id: msg.id, ok: true };
      } catch (err) {
        reply = { id: msg.id, ok: false, message: `closing ${msg.dir}: ${String(err)}` };
      }
    }
    port.postMessage(reply);
  });
});
