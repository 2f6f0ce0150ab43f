/**
 * The changelog layer: every put and delete is written to the layer below and then sent to the
 * `ChangelogSink` as a `ChangelogRecord` (a delete is a tombstone: value null). A batch goes down as
 * one `write(ops)` and out as one `send`. `flush()` flushes the layer below, then the sink, so it
 * resolves once the changelog holds every write.
 *
 * Log-after (Kafka Streams' order, not Samza's): the record is sent only once the inner write
 * returned, so the changelog never holds a write the store refused (an engine error, a full map).
 * The reverse gap (the engine took a write whose `send` failed) is covered by the changelog marker:
 * that engine write already marked the store not clean, so a restart rebuilds it from the changelog.
 *
 * Corner cases: the records share the byte arrays of the ops (nobody below mutates them); reads and
 * iterators pass straight through.
 */
import type { ChangelogSink, WriteOp } from './types.js';
import { type BytesLayer, WrappedStore } from './wrapped-store.js';

export class LoggedStore extends WrappedStore {
  constructor(
    inner: BytesLayer,
    readonly sink: ChangelogSink,
  ) {
    super(inner);
  }

  override put(key: Uint8Array, value: Uint8Array): void {
    this.inner.put(key, value);
    const sink = this.sink;
    if (sink.sendOne !== undefined) sink.sendOne(key, value);
    else sink.send([{ key, value }]);
  }

  override delete(key: Uint8Array): void {
    this.inner.delete(key);
    const sink = this.sink;
    if (sink.sendOne !== undefined) sink.sendOne(key, null);
    else sink.send([{ key, value: null }]);
  }

  override write(ops: readonly WriteOp<Uint8Array, Uint8Array>[]): void {
    if (ops.length === 0) return;
    this.inner.write(ops);
    this.sink.send(ops);
  }

  override async flush(): Promise<void> {
    await this.inner.flush();
    await this.sink.flush();
  }
}
