/**
 * The compaction thread's entry point (a `worker_threads` worker started by `compaction-thread.ts`).
 * It keeps the key map of each running pass between requests and answers every request but `end`
 * with one message: `{ id, ok: true, result }` or `{ id, ok: false, error }`.
 */
import { parentPort } from 'node:worker_threads';
import type { WorkerReply, WorkerRequest } from './compaction-thread.js';
import { cleanGroup, type KeyMap, mapDirtyKeys } from './compaction-work.js';

const port = parentPort;
if (port === null) throw new Error('compaction-worker.ts runs as a worker thread (see compaction-thread.ts)');

const keyMaps = new Map<number, KeyMap>();

async function handle(msg: Exclude<WorkerRequest, { op: 'end' }>): Promise<unknown> {
  switch (msg.op) {
    case 'map': {
      const keyMap: KeyMap = new Map();
      keyMaps.set(msg.pass, keyMap);
      return mapDirtyKeys(msg.request, keyMap, msg.abort);
    }
    case 'clean': {
      const keyMap = keyMaps.get(msg.pass);
      if (keyMap === undefined) throw new Error(`compaction pass ${msg.pass} has no key map (map first)`);
      return cleanGroup(msg.request, keyMap, msg.abort);
    }
  }
}

port.on('message', (msg: WorkerRequest) => {
  if (msg.op === 'end') {
    keyMaps.delete(msg.pass); // no reply: the owner does not wait for it
    return;
  }
  handle(msg).then(
    (result) => port.postMessage({ id: msg.id, ok: true, result } satisfies WorkerReply),
    (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      const code = (e as { code?: unknown }).code;
      port.postMessage({
        id: msg.id,
        ok: false,
        error: { name: e.name, message: e.message, code: typeof code === 'string' ? code : undefined },
      } satisfies WorkerReply);
    },
  );
});
