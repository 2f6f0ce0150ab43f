/**
 * The {@link TaskDirectory} of a job on Kafka: who owns each task, read from the consumer group's
 * description (DescribeGroups), which holds every member's join metadata (its claims, with the
 * `endpoint` it serves queries at: task-assignor.ts) and the assignment the leader gave it
 * (active task p = partition p of the inputs, standby task p = partition p of the standby topic,
 * as group-member.ts encodes them).
 *
 * Why the description and not the assignment: the group protocol's assignment is per member, and
 * the Kafka client this project uses sends no user data with it, so a member cannot learn other
 * members' tasks from its own assignment. DescribeGroups shows the whole generation to every
 * member, costs one request to the group coordinator, and is cached for `maxAgeMs` (default
 * 1 s) and dropped on every new generation of this worker.
 *
 * A group that is not `STABLE` (a rebalance is under way) has no owners: `rebalancing: true`.
 */
import type { Admin, Group } from '@platformatic/kafka';
import type { Endpoint, TaskDirectory, TaskLocation } from '../control/task-directory.js';
import { decodeClaims } from './task-assignor.js';

export interface GroupDirectoryOptions {
  /** An admin client of the cluster (e.g. `KafkaLog.admin.client`). */
  admin: Admin;
  groupId: string;
  /** The topics whose partitions carry active tasks (the job's inputs). */
  inputTopics: readonly string[];
  /** The topic whose partitions carry standby tasks, if any. */
  standbyTopic: string | undefined;
  self: Endpoint;
  maxAgeMs?: number;
}

interface View {
  at: number;
  stable: boolean;
  owners: Map<number, Endpoint>;
  standbys: Map<number, Endpoint[]>;
  error?: string;
}

export class GroupDirectory implements TaskDirectory {
  readonly self: Endpoint;
  private view: Promise<View> | undefined;

  constructor(private readonly options: GroupDirectoryOptions) {
    this.self = options.self;
  }

  invalidate(): void {
    this.view = undefined;
  }

  async locate(partition: number, options: { refresh?: boolean } = {}): Promise<TaskLocation> {
    const maxAge = this.options.maxAgeMs ?? 1000;
    let pending = this.view;
    if (options.refresh || pending === undefined) pending = this.read();
    let view = await pending;
    if (performance.now() - view.at > maxAge) view = await (pending = this.read());
    this.view = pending;
    return {
      partition,
      owner: view.stable ? view.owners.get(partition) : undefined,
      standbys: view.standbys.get(partition) ?? [],
      rebalancing: !view.stable && view.error === undefined,
      ...(view.error === undefined ? {} : { error: view.error }),
    };
  }

  private async read(): Promise<View> {
    const at = performance.now();
    const view: View = { at, stable: false, owners: new Map(), standbys: new Map() };
    let group: Group;
    try {
      const groups = await this.options.admin.describeGroups({ groups: [this.options.groupId] });
      const found = groups.get(this.options.groupId);
      if (found === undefined) return { ...view, error: `group "${this.options.groupId}" not found` };
      group = found;
    } catch (err) {
      return { ...view, error: `describing group "${this.options.groupId}": ${(err as Error).message}` };
    }
    view.stable = group.state === 'STABLE';
    for (const member of group.members.values()) {
      const endpoint = decodeClaims(member.metadata?.metadata).endpoint;
      if (endpoint === undefined || member.assignments === undefined) continue;
      for (const [topic, { partitions }] of member.assignments) {
        if (this.options.inputTopics.includes(topic)) {
          for (const p of partitions) view.owners.set(p, endpoint);
        } else if (topic === this.options.standbyTopic) {
          for (const p of partitions) {
            let list = view.standbys.get(p);
            if (list === undefined) view.standbys.set(p, (list = []));
            list.push(endpoint);
          }
        }
      }
    }
    // a member's standby that it also runs (a group of one gets every partition of every topic)
    for (const [p, owner] of view.owners) {
      const list = view.standbys.get(p);
      if (list !== undefined)
        view.standbys.set(
          p,
          list.filter((e) => e.url !== owner.url),
        );
    }
    return view;
  }
}
