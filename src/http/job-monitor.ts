/**
 * What the HTTP layer knows about the job this process runs: its phase (starting, restoring,
 * running, stopping, stopped, failed), the running container (its tasks and stores), restore
 * progress per store partition, recent warnings and errors (dead letters and skipped messages
 * among them), and the lag of every input partition.
 *
 * The CLI feeds it from `runJob`'s callbacks (`onRestore`, `onStarted`) and wraps the job's logger
 * with `logger()`, so warnings and errors are kept as events. Everything is read when a client asks
 * (a scrape, a dashboard poll): the run loop never pays for it.
 */
import type { Log } from '../log/types.js';
import type { TaskView } from '../runtime/container.js';
import type { JobContainer } from '../runtime/job-container.js';

/** What the monitor reads of the running container (on Kafka: every container of the worker, as one). */
export type MonitoredContainer = Pick<JobContainer, 'metrics' | 'taskViews' | 'storeViews' | 'commitLatency'>;

import type { RestoreProgress } from '../runtime/restore.js';
import type { Logger } from '../runtime/task.js';

export type JobPhase = 'starting' | 'restoring' | 'running' | 'stopping' | 'stopped' | 'failed';

/** A warning or an error the job logged. */
export interface MonitorEvent {
  /** Epoch ms. */
  readonly time: number;
  readonly level: 'warn' | 'error';
  readonly message: string;
  readonly fields?: Readonly<Record<string, unknown>>;
}

/** The lag of one input partition. */
export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  readonly task: string;
  readonly nextOffset: number;
  readonly endOffset: number;
  /** Records not processed yet. */
  readonly records: number;
  /** Age of the oldest unprocessed record, in seconds (0 when caught up). */
  readonly ageSeconds: number;
}

/** Restore state of one store partition. */
export interface RestoreState extends RestoreProgress {
  /** Records still to read (an upper bound: compaction leaves gaps). */
  readonly remaining: number;
}

/** GET /ready's detail. */
export interface Readiness {
  readonly ready: boolean;
  readonly job: string;
  readonly phase: JobPhase;
  readonly tasks: readonly { task: string; partition: number; state: string }[];
  readonly restores: readonly RestoreState[];
}

/** Events kept for the dashboard. */
const MAX_EVENTS = 100;
/** Lag is read from the log at most this often (scrapes and dashboard polls share it). */
const LAG_CACHE_MS = 500;

export class JobMonitor {
  readonly job: string;
  readonly backend: string;
  /** Epoch ms when the monitor was made (the process started the job). */
  readonly startedAt = Date.now();
  private currentPhase: JobPhase = 'starting';
  private running: MonitoredContainer | undefined;
  private readonly restores = new Map<string, RestoreProgress>();
  private readonly recent: MonitorEvent[] = [];
  private eventCount = 0;
  private lagCache: { at: number; value: Promise<PartitionLag[]> } | undefined;

  constructor(
    job: string,
    private readonly log: Log,
    backend: string,
  ) {
    this.job = job;
    this.backend = backend;
  }

  get phase(): JobPhase {
    return this.currentPhase;
  }

  get container(): MonitoredContainer | undefined {
    return this.running;
  }

  /** Restore progress (`runJob`'s `onRestore`). */
  readonly onRestore = (p: RestoreProgress): void => {
    this.restores.set(`${p.store}/${p.partition}`, p);
    if (this.currentPhase === 'starting') this.currentPhase = 'restoring';
  };

  /**
   * The container has started: restored and initialised (`runJob`'s `onStarted`). On Kafka, called
   * again with each assignment's container (undefined: this worker runs no task now).
   */
  readonly onStarted = (container: MonitoredContainer | undefined): void => {
    this.running = container;
    if (this.currentPhase === 'starting' || this.currentPhase === 'restoring') this.currentPhase = 'running';
  };

  /** The process is shutting down (a signal, or the end of its input). */
  stopping(): void {
    if (this.currentPhase !== 'stopped' && this.currentPhase !== 'failed') this.currentPhase = 'stopping';
  }

  /** The job ended; `error` when it failed. */
  stopped(error?: unknown): void {
    if (error !== undefined) this.record('error', `job failed: ${describe(error)}`);
    this.currentPhase = error === undefined ? 'stopped' : 'failed';
  }

  /** Wraps the job's logger: warnings and errors are also kept as events. */
  logger(base: Logger): Logger {
    return {
      info: (message, fields) => base.info(message, fields),
      warn: (message, fields) => {
        this.record('warn', message, fields);
        base.warn(message, fields);
      },
      error: (message, fields) => {
        this.record('error', message, fields);
        base.error(message, fields);
      },
    };
  }

  /** The most recent warnings and errors, newest last. */
  events(): readonly MonitorEvent[] {
    return this.recent;
  }

  /** Warnings and errors logged since the start (the ring keeps the last MAX_EVENTS). */
  get eventTotal(): number {
    return this.eventCount;
  }

  restoreStates(): RestoreState[] {
    const out: RestoreState[] = [];
    for (const p of this.restores.values()) {
      out.push({ ...p, remaining: p.done ? 0 : Math.max(0, p.total - p.restored) });
    }
    return out;
  }

  tasks(): TaskView[] {
    return this.running?.taskViews() ?? [];
  }

  readiness(): Readiness {
    const running = this.currentPhase === 'running';
    const tasks = this.tasks().map((t) => ({
      task: t.name,
      partition: t.partition,
      state: this.currentPhase,
    }));
    const restores = this.restoreStates();
    const ready = running && restores.every((r) => r.done);
    return { ready, job: this.job, phase: this.currentPhase, tasks, restores };
  }

  /** The lag of every input partition of the running tasks (read from the log, cached briefly). */
  lag(): Promise<PartitionLag[]> {
    const now = performance.now();
    if (this.lagCache !== undefined && now - this.lagCache.at < LAG_CACHE_MS) return this.lagCache.value;
    const value = this.readLag();
    this.lagCache = { at: now, value };
    value.catch(() => {
      if (this.lagCache?.value === value) this.lagCache = undefined;
    });
    return value;
  }

  private async readLag(): Promise<PartitionLag[]> {
    const out: PartitionLag[] = [];
    const now = Date.now();
    for (const task of this.tasks()) {
      for (const input of task.inputs) {
        const endOffset = await this.log.endOffset(input.topic, input.partition);
        const records = Math.max(0, endOffset - input.nextOffset);
        let ageSeconds = 0;
        if (records > 0) {
          const [oldest] = await this.log.read(input.topic, input.partition, input.nextOffset, {
            maxRecords: 1,
          });
          if (oldest !== undefined) ageSeconds = Math.max(0, (now - oldest.timestamp) / 1000);
        }
        out.push({
          topic: input.topic,
          partition: input.partition,
          task: task.name,
          nextOffset: input.nextOffset,
          endOffset,
          records,
          ageSeconds,
        });
      }
    }
    return out;
  }

  private record(level: 'warn' | 'error', message: string, fields?: Record<string, unknown>): void {
    this.eventCount++;
    this.recent.push(
      fields === undefined
        ? { time: Date.now(), level, message }
        : { time: Date.now(), level, message, fields },
    );
    if (this.recent.length > MAX_EVENTS) this.recent.splice(0, this.recent.length - MAX_EVENTS);
  }
}

function describe(err: unknown): string {
  if (err instanceof Error)
    return (err as { code?: string }).code
      ? `${(err as { code?: string }).code}: ${err.message}`
      : err.message;
  return String(err);
}
