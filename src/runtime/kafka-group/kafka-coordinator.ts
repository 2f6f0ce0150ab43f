/**
 * The Kafka coordinator (Samza's `KafkaStreams`-style coordination, DESIGN §4): one job scaled over
 * many worker processes that are members of the Kafka consumer group `eddy-<job>`. The group is used
 * only for membership and assignment (see group-member.ts and task-assignor.ts); records flow
 * through the `Log`.
 *
 * A container (a {@link Container}, or with `threads` a ThreadedContainer whose threads share this
 * process's Kafka log through its log owner) runs a fixed set of tasks; a worker runs one or more.
 * A member learns of a rebalance from its next heartbeat (every {@link heartbeatIntervalFor} of the
 * session timeout: at most 200 ms), and on every new assignment:
 * 1. the worker claims old ∪ new tasks in its join metadata, then stops (commit, then close) only
 *    the containers that run a task it loses: "on a rebalance a task is committed and closed on its
 *    old owner". A container whose tasks all stay here keeps running, untouched: its stores stay
 *    open, its reads in flight, its producer's transactional id claimed (cooperative rebalancing,
 *    as Kafka Streams does with incremental rebalancing). With `threads` > 1 the worker has one
 *    container for all its tasks, stopped on every change, so it never runs more threads than asked;
 * 2. it claims exactly the new tasks and, for an exactly-once job, fences every earlier writer of
 *    the tasks it starts (below) and waits until no transaction is open on the checkpoint partition
 *    (wait-stable.ts), then starts one new Container with `partitions: <the tasks it gained, and the
 *    other tasks of a container it stopped>`. Restore reuses local stores whose marker is current
 *    (host affinity), so a task that comes back is cheap, and a task with a standby here replays
 *    little (the standby closes its stores at the last offset it applied; the container reopens them);
 * 3. if it released tasks, it rejoins so the leader can give them to their new owner (the assignor
 *    never gives a task to a member while another live member claims it);
 * 4. standby tasks (`standbys` per task, run option) tail their changelogs (standby-task.ts).
 * Every path (stop signal, failure) commits-and-closes or closes-without-commit every container,
 * stops standbys, leaves the group (the others rebalance at once) and releases the data dir lock.
 *
 * Exactly-once across processes — zombie fencing per task (Kafka Streams' EOS-v1 scheme): each
 * task commits in a transaction of its own transactional id, `eddy-<job>-task-<p>` (one producer per
 * task; Container's `transactionalId` option), holding the task's changelog records, its outputs and
 * its checkpoint record. Before a worker starts a task it claims that id (`fenceTransactions`: an
 * InitProducerId as a new producer), which bumps the id's epoch; the broker first completes or
 * aborts the transaction the previous owner left open, and from then on every append, commit or
 * abort of the previous owner's producer fails with `FencedError`. So a worker that lost a task
 * — dead, or alive without knowing it (a long pause, a network partition, a lost group session) —
 * can never commit for it after its new owner started, and the new owner reads the checkpoint only
 * once that old transaction is over (plus `waitStable`, because all tasks share the checkpoint
 * partition and its last stable offset). The group generation alone could not give this: the
 * checkpoints are records in a topic, not consumer offsets that the group coordinator checks
 * against a generation. A fenced worker does not crash: it closes its container without committing
 * (nothing past the last commit is kept), releases its tasks and rejoins the group for a fresh
 * assignment. Transactional ids are per task, not per worker, so they work the same for workers
 * under the supervisor, separate processes and restarts on other hosts.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { KafkaLog } from '../../log/kafka/kafka-log.js';
import { AbortedError, ControlError, FencedError } from '../../util/errors.js';
import { CheckpointStore } from '../checkpoint.js';
import { ControlServer } from '../control/control-server.js';
import type { StoreQueries } from '../control/store-queries.js';
import type { Endpoint, TaskDirectory } from '../control/task-directory.js';
import { changelogTopic, checkpointTopic, type JobDefinition } from '../job.js';
import { createContainer, type JobContainer, resolveThreads, type ThreadsOption } from '../job-container.js';
import { lockJob } from '../job-lock.js';
import { ensureChangelogTopics, taskCountOf } from '../job-topics.js';
import type { RestoreProgress } from '../restore.js';
import type { Logger } from '../task.js';
import { ContainerSet, type ContainerView } from './container-set.js';
import { GroupDirectory } from './group-directory.js';
import { type GroupGeneration, GroupMember } from './group-member.js';
import { StandbyTask } from './standby-task.js';
import { waitStable } from './wait-stable.js';

export interface KafkaRunOptions {
  /** The Kafka log (exactly-once commits use one transactional id per task, see above). */
  log: KafkaLog;
  brokers: string[];
  /** This worker's local state: `<dataDir>/stores/<job>`; one worker per data dir. */
  dataDir: string;
  /** Standby replicas per task (default 0). */
  standbys?: number;
  signal?: AbortSignal;
  logger?: Logger;
  /** A name for this worker in logs and client ids (default: the process id). */
  workerId?: string;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  rebalanceTimeoutMs?: number;
  onRestore?: (progress: RestoreProgress) => void;
  /**
   * Worker threads each assignment's tasks are spread over (default the job's `threads`, else 1);
   * more than 1 needs `jobModule`. Each task still commits in its own transaction (its id), through
   * this process's log owner.
   */
  threads?: ThreadsOption;
  /** The path or file URL of the job's module, for threads. */
  jobModule?: string;
  /**
   * The interactive queries of this worker's stores: every container this worker runs and every
   * standby copy it holds registers there (the HTTP routes and the control socket read it).
   */
  queries?: StoreQueries;
  /** Serve `<dataDir>/control.sock` (store reads through this worker: `eddy store get`, …). */
  controlSocket?: boolean;
  /**
   * Where this worker answers queries over HTTP: sent in its join metadata so that other workers
   * forward queries of its tasks here (see `taskDirectory`).
   */
  endpoint?: Endpoint;
  /** The group's task directory once the worker knows its group (called once, before joining). */
  onDirectory?: (directory: TaskDirectory) => void;
  /** After each assignment is in effect (container started, standbys running). */
  onAssignment?: (info: {
    generationId: number;
    active: number[];
    standby: number[];
    /** This worker's running containers as one (undefined: it runs no task now). */
    container?: ContainerView;
  }) => void;
}

export interface KafkaRunResult {
  /** Messages processed by every container this worker ran. */
  processed: number;
  generations: number;
  /** Containers this worker started: one per assignment that gave it tasks it was not running. */
  containers: number;
}

const silent: Logger = { info() {}, warn() {}, error() {} };

/** The transactional id of task `partition`'s exactly-once commits, the same on every worker. */
export function taskTransactionalId(job: string, partition: number): string {
  return `eddy-${job}-task-${partition}`;
}
/** The topic whose partitions carry a job's standby tasks in the group (the first logged store's changelog). */
export function standbyTopicOf(job: JobDefinition): string | undefined {
  const logged = Object.entries(job.stores).find(([, s]) => s.changelog);
  return logged === undefined ? undefined : changelogTopic(job.name, logged[0]);
}

const same = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/** Tasks with a store directory on this worker's disk (for sticky, state-aware assignment). */
function localState(dataDir: string, job: JobDefinition): number[] {
  const found = new Set<number>();
  for (const name of Object.keys(job.stores)) {
    try {
      for (const entry of readdirSync(join(dataDir, 'stores', job.name, name))) {
        if (/^\d+$/.test(entry)) found.add(Number(entry));
      }
    } catch {
      // no directory: no state
    }
  }
  return [...found].sort((a, b) => a - b);
}

/**
 * The heartbeat interval of a session timeout: a fifth of it, at most {@link MAX_HEARTBEAT_MS}. A
 * member learns of a rebalance (a member died, one joined) only from the answer to its next
 * heartbeat, so the interval bounds how long the survivors of a death wait after the broker noticed
 * it; a heartbeat is one small request to the group coordinator.
 */
export function heartbeatIntervalFor(sessionTimeoutMs: number): number {
  return Math.max(1, Math.min(MAX_HEARTBEAT_MS, Math.floor(sessionTimeoutMs / 5)));
}
export const MAX_HEARTBEAT_MS = 200;

/** One container of this worker and the tasks it runs. */
interface Running {
  container: JobContainer;
  tasks: number[];
  /** Its start and run; settles when it stops. */
  run: Promise<void>;
  detach: (() => void) | undefined;
}

/** Runs this worker's share of `job` until the signal aborts or a task fails. */
export async function runJobOnKafka(job: JobDefinition, options: KafkaRunOptions): Promise<KafkaRunResult> {
  const { log, dataDir } = options;
  const logger = options.logger ?? silent;
  const workerId = options.workerId ?? String(process.pid);
  const release = lockJob(dataDir, job.name);
  const result: KafkaRunResult = { processed: 0, generations: 0, containers: 0 };
  /** The running containers; a rebalance stops only those that lose a task. */
  const slots: Running[] = [];
  const view = new ContainerSet();
  const runningTasks = () => slots.flatMap((s) => s.tasks).sort((a, b) => a - b);
  // Threads are per container: with more than one, a worker runs one container (all its tasks) and
  // makes a new one on every change, so it never runs more threads than asked.
  const incremental = (options.threads ?? job.threads ?? 1) === 1;
  const standbys = new Map<number, StandbyTask>();
  let member: GroupMember | undefined;
  let control: ControlServer | undefined;
  let directory: GroupDirectory | undefined;
  const { queries } = options;
  let failure: unknown;
  let wake: (() => void) | undefined;
  let latest: GroupGeneration | undefined;
  /** A running container returned by itself: a task asked the job to shut down. */
  let finished = false;
  /** A running container's commit was fenced: another worker owns (some of) its tasks now. */
  let fenced: { error: FencedError; tasks: number[] } | undefined;
  /** Transactional ids this worker claimed (exactly-once), released when their task stops here. */
  const claimed = new Set<number>();
  const txId = (p: number) => taskTransactionalId(job.name, p);
  const releaseIds = async (keep: readonly number[]) => {
    for (const p of [...claimed]) {
      if (keep.includes(p)) continue;
      claimed.delete(p);
      await log.releaseTransactions(txId(p)).catch(() => undefined);
    }
  };
  const onAbort = () => wake?.();
  options.signal?.addEventListener('abort', onAbort);

  /** Stops one container: its run returns after a commit (unless `commit` is false), then it closes. */
  const stopSlot = async (slot: Running, commit: boolean) => {
    const at = slots.indexOf(slot);
    if (at < 0) return;
    slots.splice(at, 1);
    const c = slot.container;
    c.requestStop();
    try {
      await slot.run;
    } catch (err) {
      commit = false;
      if (err instanceof FencedError) fenced ??= { error: err, tasks: slot.tasks };
      else failure ??= err;
    }
    result.processed += c.metrics().processed;
    await c.close({ commit }).catch((err) => {
      if (!(err instanceof FencedError)) failure ??= err;
    });
    slot.detach?.();
    view.delete(c);
  };
  const stopAll = async (commit: boolean) => {
    for (const slot of [...slots]) await stopSlot(slot, commit);
  };
  /** Starts a container for `tasks` (restored and initialised when this returns). */
  const startSlot = async (tasks: number[]) => {
    const threads = await resolveThreads(job, {
      threads: options.threads ?? job.threads,
      jobModule: options.jobModule,
      log,
      partitions: tasks,
    });
    const c = createContainer(job, {
      log,
      dataDir,
      logger,
      partitions: tasks,
      transactionalId: job.exactlyOnce ? txId : undefined,
      threads,
      jobModule: options.jobModule,
    });
    if (options.onRestore) c.on('restore', options.onRestore);
    const slot: Running = { container: c, tasks, run: Promise.resolve(), detach: queries?.attach(c) };
    slots.push(slot);
    view.add(c);
    result.containers++;
    const started = c.start();
    slot.run = started.then(() => c.run({ signal: options.signal }));
    slot.run.then(
      () => {
        if (slots.includes(slot) && !options.signal?.aborted) finished = true;
        wake?.();
      },
      (err) => {
        if (err instanceof FencedError) fenced ??= { error: err, tasks };
        else failure ??= err;
        wake?.();
      },
    );
    await started;
  };

  try {
    const taskCount = await taskCountOf(job, log);
    await ensureChangelogTopics(job, log, taskCount);
    await new CheckpointStore(log, checkpointTopic(job.name), job.replicationFactor).init();
    queries?.setTaskCount(taskCount);
    if (options.controlSocket) {
      try {
        control = await ControlServer.start({ dataDir, queries, logger });
      } catch (err) {
        if (!(err instanceof ControlError)) throw err;
        logger.warn(`${err.message} (the worker runs without it)`);
      }
    }
    const standbyTopic = standbyTopicOf(job);
    if (options.endpoint !== undefined) {
      directory = new GroupDirectory({
        admin: log.admin.client,
        groupId: `eddy-${job.name}`,
        inputTopics: job.inputs.map((i) => i.topic),
        standbyTopic,
        self: options.endpoint,
      });
      options.onDirectory?.(directory);
    }
    const m = new GroupMember({
      brokers: options.brokers,
      connection: log.options.connection,
      groupId: `eddy-${job.name}`,
      clientId: `eddy-${job.name}-${workerId}`,
      inputTopics: job.inputs.map((i) => i.topic),
      standbyTopic,
      taskCount,
      standbys: options.standbys ?? 0,
      sessionTimeoutMs: options.sessionTimeoutMs ?? 10_000,
      heartbeatIntervalMs:
        options.heartbeatIntervalMs ?? heartbeatIntervalFor(options.sessionTimeoutMs ?? 10_000),
      rebalanceTimeoutMs: options.rebalanceTimeoutMs ?? 60_000,
    });
    member = m;
    const claim = (tasks: number[]) =>
      m.setClaims({
        tasks,
        standbyState: localState(dataDir, job),
        standbys: [...standbys.keys()].sort((a, b) => a - b),
        endpoint: options.endpoint,
      });
    claim([]);
    m.onAssignment = (g) => {
      latest = g;
      wake?.();
    };
    m.onError = (err) => logger.warn(`group: ${err.message}`);
    m.onRebalance = () => logger.info(`group rebalancing (worker ${workerId})`);
    await m.join();

    let applied: GroupGeneration | undefined;
    while (!options.signal?.aborted) {
      if (failure !== undefined) throw failure;
      if (finished) break;
      if (fenced !== undefined) {
        // another worker took over tasks of ours: stop them without committing, ask for a new assignment
        logger.warn(
          `tasks [${fenced.tasks.join(',')}] fenced (${fenced.error.message}); stopping them and rejoining`,
        );
        await stopAll(false);
        fenced = undefined; // (stopping may report the same fencing again)
        if (failure !== undefined) throw failure;
        await releaseIds([]);
        claim([]);
        applied = undefined;
        await m.rejoin();
        continue;
      }
      if (latest === undefined || latest === applied) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
        continue;
      }
      const g = latest;
      applied = g;
      directory?.invalidate();
      result.generations++;
      const { active, standby } = g.assignment;
      for (const [p, s] of standbys) {
        if (!standby.includes(p)) {
          standbys.delete(p);
          await s.stop();
        }
      }
      const running = runningTasks();
      const released = running.filter((p) => !active.includes(p));
      // A container keeps running while all its tasks stay here; one that loses a task stops
      // (committing) and its other tasks start again with the tasks gained.
      const changed = !same(running, active);
      const revoked = slots.filter((s) => (incremental ? s.tasks.some((p) => !active.includes(p)) : changed));
      const kept = slots.filter((s) => !revoked.includes(s)).flatMap((s) => s.tasks);
      const start = active.filter((p) => !kept.includes(p));
      if (changed) {
        claim([...new Set([...running, ...active])].sort((a, b) => a - b));
        for (const s of revoked) await stopSlot(s, true);
        if (failure !== undefined) throw failure;
        if (fenced !== undefined) continue;
        await releaseIds(active);
        claim(active);
        if (start.length > 0) {
          if (job.exactlyOnce) {
            // claim the tasks' transactional ids: earlier owners' open transactions end, they are fenced
            await Promise.all(
              start.map(async (p) => {
                await log.fenceTransactions(txId(p));
                claimed.add(p);
              }),
            );
            await waitStable(log, checkpointTopic(job.name), 0, options.signal);
          }
          await startSlot(start);
        }
        if (released.length > 0) await m.rejoin();
      }
      for (const p of standby) {
        if (standbys.has(p)) continue;
        const s = new StandbyTask(job, p, log, dataDir, logger, queries);
        standbys.set(p, s);
        await s.start();
      }
      claim(runningTasks());
      logger.info(
        `generation ${g.generationId}: tasks [${active.join(',')}], standby [${standby.join(',')}] (worker ${workerId})`,
      );
      options.onAssignment?.({
        generationId: g.generationId,
        active,
        standby,
        container: slots.length > 0 ? view : undefined,
      });
    }
    await stopAll(true);
    if (failure !== undefined) throw failure;
    return result;
  } catch (err) {
    if (err instanceof AbortedError && options.signal?.aborted) {
      await stopAll(true);
      return result;
    }
    await stopAll(false);
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    queries?.shutdown();
    await control?.close();
    for (const s of standbys.values()) await s.stop();
    await releaseIds([]);
    await member?.close();
    release();
  }
}
