/**
 * Where a task partition is served, for interactive queries across processes (Kafka with several
 * workers): a worker asked for a key of a partition it does not run forwards the query to the
 * partition's owner, or answers from its own standby copy when the owner cannot be reached.
 *
 * The contract, for every implementation:
 * - `locate(p)` says who owns task `p` in the group's current generation, and which members hold
 *   a standby of it, each as an {@link Endpoint} (the member's `--http` base URL and worker id).
 *   `owner` is undefined while no member owns it (a rebalance is under way, the task was revoked
 *   and not handed on yet, or the owner serves no `--http`); `rebalancing` says the former.
 * - Answers may be cached briefly; `{ refresh: true }` asks the cluster again (after a forward
 *   failed: the owner may have moved). `invalidate()` drops the cache (a new generation began).
 * - It never throws for a cluster that cannot be asked: the answer is then `owner: undefined`
 *   with `error` saying why.
 */

/** A worker that answers queries over HTTP. */
export interface Endpoint {
  /** Its `--http` base URL, e.g. `http://10.0.0.5:8080`. */
  readonly url: string;
  /** Its worker id (`--worker-id`). */
  readonly worker: string;
}

export interface TaskLocation {
  readonly partition: number;
  readonly owner: Endpoint | undefined;
  /** Members holding a standby copy of the task. */
  readonly standbys: readonly Endpoint[];
  /** The group is between generations: ask again shortly. */
  readonly rebalancing: boolean;
  /** Why the location is unknown, when the directory could not be read. */
  readonly error?: string;
}

export interface TaskDirectory {
  /** This process's own endpoint (answers it gives say so). */
  readonly self: Endpoint;
  locate(partition: number, options?: { refresh?: boolean }): Promise<TaskLocation>;
  invalidate(): void;
}
