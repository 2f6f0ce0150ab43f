/**
 * The containers one Kafka worker runs at once, seen as one for monitoring (the HTTP metrics, the
 * dashboard, `/ready`). A rebalance leaves the containers of the tasks a worker keeps running and
 * starts a new container for the tasks it gains (kafka-coordinator.ts), so a worker may run several.
 *
 * The view lives as long as the worker: commits and their latencies are counted from every
 * container's `commit` events, so they accumulate across rebalances (a container's own counters
 * would start again at each new assignment). Task and store views are those of the containers
 * running now.
 */
import { LatencyHistogram } from '../../util/latency-histogram.js';
import {
  addMetrics,
  type ContainerMetrics,
  emptyMetrics,
  type StoreView,
  type TaskView,
} from '../container.js';
import type { JobContainer } from '../job-container.js';

/** What monitoring reads of a worker's running containers. */
export type ContainerView = Pick<JobContainer, 'metrics' | 'taskViews' | 'storeViews' | 'commitLatency'>;

export class ContainerSet implements ContainerView {
  readonly commitLatency = new LatencyHistogram();
  private readonly members = new Map<JobContainer, (e: { ms: number }) => void>();
  private commits = 0;
  private lastCommitMs = 0;

  /** Starts counting `container`'s commits and showing its tasks and stores. */
  add(container: JobContainer): void {
    if (this.members.has(container)) return;
    const onCommit = (e: { ms: number }) => {
      this.commits++;
      this.lastCommitMs = e.ms;
      this.commitLatency.observe(e.ms / 1000);
    };
    container.on('commit', onCommit);
    this.members.set(container, onCommit);
  }

  /** Stops showing `container` (its commits stay counted). */
  delete(container: JobContainer): void {
    const onCommit = this.members.get(container);
    if (onCommit === undefined) return;
    container.off('commit', onCommit);
    this.members.delete(container);
  }

  get size(): number {
    return this.members.size;
  }

  /** The running containers' counters summed; commits counted over the worker's life. */
  metrics(): ContainerMetrics {
    const m = emptyMetrics(this.commits, this.lastCommitMs);
    for (const c of this.members.keys()) {
      const x = c.metrics();
      addMetrics(m, x);
      m.restoreMs += x.restoreMs; // the containers restored one after another
    }
    return m;
  }

  taskViews(): TaskView[] {
    const views: TaskView[] = [];
    for (const c of this.members.keys()) views.push(...c.taskViews());
    return views.sort((a, b) => a.partition - b.partition);
  }

  storeViews(): StoreView[] {
    const views: StoreView[] = [];
    for (const c of this.members.keys()) views.push(...c.storeViews());
    return views;
  }
}
