/**
 * Membership of one worker in the job's Kafka consumer group (`eddy-<job>`), through
 * `@platformatic/kafka`'s classic group protocol, used ONLY for membership and assignment: no record
 * is fetched through the consumer (tasks read through the `Log`).
 *
 * - Join metadata: the member's {@link MemberClaims} as JSON, in the protocol's user data. It is
 *   updated in place (`setClaims`), so the client's automatic rejoins (on a heartbeat that reports a
 *   rebalance) send the current claims; `rejoin()` forces a new generation (after releasing tasks).
 * - Assignment: the leader runs {@link assignTasks}; active task p is sent as partition p of every
 *   input topic, standby task p as partition p of `standbyTopic` (the first store's changelog,
 *   which the member also subscribes to, so the client handles it like any topic). A group of one
 *   member bypasses the assigner in the client (it gets every partition of every subscribed
 *   topic): the decoder then drops standby tasks that are also active.
 * - `close()` leaves the group (the others rebalance at once, without waiting for the session
 *   timeout) and closes the client's sockets and timers. Idempotent.
 */
import { Consumer, type GroupOptions, type GroupPartitionsAssignments } from '@platformatic/kafka';
import type { KafkaConnection } from '../../log/kafka/connection.js';
import { KafkaError } from '../../util/errors.js';
import {
  assignTasks,
  decodeClaims,
  encodeClaims,
  type MemberClaims,
  type TaskAssignment,
} from './task-assignor.js';

export interface GroupMemberOptions {
  brokers: string[];
  /** TLS and SASL of the log (`KafkaLog.options.connection`): the group's client connects alike. */
  connection?: KafkaConnection;
  groupId: string;
  clientId: string;
  /** Topics whose partitions carry active tasks (the job's inputs). */
  inputTopics: string[];
  /** The topic whose partitions carry standby tasks; none when undefined. */
  standbyTopic: string | undefined;
  taskCount: number;
  standbys: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
}

export interface GroupGeneration {
  generationId: number;
  memberId: string;
  assignment: TaskAssignment;
}

const PROTOCOL = 'eddy-tasks';

export class GroupMember {
  private readonly consumer: Consumer<Buffer, Buffer, Buffer, Buffer>;
  private readonly joinOptions: GroupOptions & {
    protocols: { name: string; version: number; metadata: Buffer }[];
  };
  private closing: Promise<void> | undefined;

  /** Called with every generation's assignment, in order (one at a time is the caller's job). */
  onAssignment: (generation: GroupGeneration) => void = () => {};
  /** Called when the group coordinator answers that a rebalance is under way (this member rejoins). */
  onRebalance: () => void = () => {};
  /** Called when the client reports a group error it could not recover from. */
  onError: (err: Error) => void = () => {};

  constructor(private readonly options: GroupMemberOptions) {
    this.consumer = new Consumer({
      clientId: options.clientId,
      bootstrapBrokers: options.brokers,
      ...options.connection,
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
      rebalanceTimeout: options.rebalanceTimeoutMs,
      autocommit: false,
    });
    const topics = [...options.inputTopics];
    if (options.standbyTopic !== undefined && !topics.includes(options.standbyTopic)) {
      topics.push(options.standbyTopic);
    }
    this.consumer.topics.trackAll(...topics);
    this.joinOptions = {
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
      rebalanceTimeout: options.rebalanceTimeoutMs,
      protocols: [{ name: PROTOCOL, version: 1, metadata: encodeClaims({ tasks: [], standbyState: [] }) }],
      partitionAssigner: (_current, members) => this.assign(members),
    };
    this.consumer.on('consumer:group:join', (payload: { generationId?: number; memberId?: string }) => {
      this.onAssignment({
        generationId: payload.generationId ?? -1,
        memberId: payload.memberId ?? '',
        assignment: this.decode(this.consumer.assignments ?? []),
      });
    });
    this.consumer.on('consumer:group:rebalance', () => this.onRebalance());
    this.consumer.on('error', (err: Error) => this.onError(err));
  }

  /** Sets the claims sent with the next join (automatic or forced). */
  setClaims(claims: MemberClaims): void {
    this.joinOptions.protocols[0].metadata = encodeClaims(claims);
  }

  /** Joins the group; the first assignment arrives through `onAssignment`. */
  async join(): Promise<void> {
    try {
      await this.consumer.joinGroup(this.joinOptions);
    } catch (err) {
      throw new KafkaError(`joining consumer group "${this.options.groupId}": ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** Forces a new generation, with the current claims (after tasks were released). */
  async rejoin(): Promise<void> {
    if (this.closing) return;
    await this.join();
  }

  /** The leader's assignor: {@link assignTasks}, encoded as topic partitions. */
  private assign(
    members: Map<string, { metadata?: Buffer | string; memberId: string }>,
  ): GroupPartitionsAssignments[] {
    const claims = new Map<string, MemberClaims>();
    for (const [id, m] of members) claims.set(id, decodeClaims(m.metadata));
    const { assignments } = assignTasks({
      members: claims,
      taskCount: this.options.taskCount,
      standbys: this.options.standbyTopic === undefined ? 0 : this.options.standbys,
    });
    const out: GroupPartitionsAssignments[] = [];
    for (const [memberId, a] of assignments) {
      const map = new Map<string, { topic: string; partitions: number[] }>();
      for (const topic of this.options.inputTopics) map.set(topic, { topic, partitions: [...a.active] });
      const standbyTopic = this.options.standbyTopic;
      if (standbyTopic !== undefined && a.standby.length > 0) {
        map.set(standbyTopic, { topic: standbyTopic, partitions: [...a.standby] });
      }
      out.push({ memberId, assignments: map });
    }
    return out;
  }

  private decode(assigned: readonly { topic: string; partitions: number[] }[]): TaskAssignment {
    const active = new Set<number>();
    const standby = new Set<number>();
    for (const { topic, partitions } of assigned) {
      if (this.options.inputTopics.includes(topic)) for (const p of partitions) active.add(p);
      else if (topic === this.options.standbyTopic) for (const p of partitions) standby.add(p);
    }
    const valid = (p: number) => p >= 0 && p < this.options.taskCount;
    return {
      active: [...active].filter(valid).sort((a, b) => a - b),
      standby: [...standby].filter((p) => valid(p) && !active.has(p)).sort((a, b) => a - b),
    };
  }

  /** Leaves the group and closes the client. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.consumer.close().catch(() => undefined);
    return this.closing;
  }
}
