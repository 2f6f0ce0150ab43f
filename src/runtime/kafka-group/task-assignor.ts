/**
 * Task assignment of the Kafka coordinator (a pure function; Kafka Streams' `StickyTaskAssignor`
 * with Samza's whole-task grouping): tasks are partition numbers, and task p is partition p of
 * every input, so a task is always assigned whole.
 *
 * Each member tells, in its join metadata ({@link MemberClaims}), the tasks it runs right now
 * (`tasks`: its open container's tasks, possibly still closing) and the tasks it has local state for
 * (`standbyState`: store directories on its disk, standbys included). The result is
 * - balanced: active task counts differ by at most one between members;
 * - sticky: a member keeps the tasks it runs up to its share; free tasks go first to a member that
 *   keeps a standby of them right now (its copy follows the changelog: a few records to replay),
 *   then to one with other local state for them (a directory from an earlier ownership or standby:
 *   host affinity, but its copy may be far behind), then to the least loaded;
 * - safe to hand over: a task that a live member still runs is never given to another member in the
 *   same generation. When balance moves it, it is revoked (assigned to nobody): its owner commits
 *   and closes it, then rejoins with metadata that no longer claims it, and the next generation
 *   gives it to its new owner. So no two processes ever run one task at once (barring a member
 *   that lost its session but still runs: a zombie, see kafka-coordinator.ts);
 * - deterministic: members are ordered by id, ties are broken by id then task number;
 * - standbys: up to `standbys` replicas per task, each on a member other than its owner (and other
 *   than a member still closing it); standby counts are balanced (within one where the owners allow
 *   it), and within that the standbys of one member's tasks go to different members where they can
 *   (when it dies, each survivor takes over a task it has a copy of, instead of one survivor holding
 *   every copy and room for only some), then to a member with local state, then the least loaded.
 */

/** What a member says about itself when it joins (JSON in the group protocol metadata). */
export interface MemberClaims {
  /** Tasks whose container is open on this member (claimed until closed). */
  tasks: number[];
  /** Tasks this member holds local store state for (standby or earlier ownership). */
  standbyState: number[];
  /**
   * Tasks this member keeps a standby of right now (tailing their changelogs): its most current
   * copies, preferred over other local state when a task is free. Absent (an older member): none.
   */
  standbys?: number[];
  /**
   * Where this member answers interactive queries (its `--http` base URL, e.g.
   * `http://10.0.0.5:8080`), and its worker id: other members read them from the group's
   * description to forward a query to a task's owner (group-directory.ts). Absent: no `--http`.
   */
  endpoint?: { url: string; worker: string };
}

export interface TaskAssignment {
  active: number[];
  standby: number[];
}

export interface AssignTasksInput {
  /** member id → its claims. */
  members: ReadonlyMap<string, MemberClaims>;
  /** Number of tasks (the inputs' partition count); tasks are 0 … taskCount-1. */
  taskCount: number;
  /** Standby replicas per task (default 0). */
  standbys?: number;
}

export interface AssignTasksResult {
  /** member id → its tasks, both lists sorted. */
  assignments: Map<string, TaskAssignment>;
  /** Tasks given to nobody this generation: revoked from a member that must release them first. */
  revoked: number[];
}

const byNumber = (a: number, b: number): number => a - b;

/** Computes the assignment of one generation. Pure and deterministic. */
export function assignTasks(input: AssignTasksInput): AssignTasksResult {
  const ids = [...input.members.keys()].sort();
  const n = input.taskCount;
  const assignments = new Map<string, TaskAssignment>();
  for (const id of ids) assignments.set(id, { active: [], standby: [] });
  if (ids.length === 0 || n <= 0) return { assignments, revoked: [] };

  const valid = (t: number) => Number.isInteger(t) && t >= 0 && t < n;
  const claims = new Map<string, number[]>();
  const state = new Map<string, Set<number>>();
  const live = new Map<string, Set<number>>();
  for (const id of ids) {
    const c = input.members.get(id) as MemberClaims;
    claims.set(id, [...new Set((c.tasks ?? []).filter(valid))].sort(byNumber));
    state.set(id, new Set((c.standbyState ?? []).filter(valid)));
    live.set(id, new Set((c.standbys ?? []).filter(valid)));
  }
  /** How current `id`'s copy of t is: 0 a live standby, 1 other local state, 2 none. */
  const copyOf = (id: string, t: number): number =>
    (live.get(id) as Set<number>).has(t) ? 0 : (state.get(id) as Set<number>).has(t) ? 1 : 2;

  // Shares: base each, one more for `extra` members; the extra slots go to members that claim most.
  const base = Math.floor(n / ids.length);
  let extra = n % ids.length;
  const quota = new Map<string, number>();
  const byClaims = [...ids].sort(
    (a, b) => (claims.get(b) as number[]).length - (claims.get(a) as number[]).length || (a < b ? -1 : 1),
  );
  for (const id of byClaims) {
    const more = extra > 0 && (claims.get(id) as number[]).length > base;
    if (more) extra--;
    quota.set(id, base + (more ? 1 : 0));
  }
  // Remaining extra slots (nobody claimed more than base): to the first members by id.
  for (const id of ids) {
    if (extra === 0) break;
    if (quota.get(id) === base) {
      quota.set(id, base + 1);
      extra--;
    }
  }

  const owner = new Map<number, string>();
  /** Task → the live member that still runs it (it must release it before anyone else gets it). */
  const claimedBy = new Map<number, string>();
  for (const id of byClaims) {
    for (const t of claims.get(id) as number[]) {
      if (claimedBy.has(t)) continue; // a double claim (should not happen): the first keeps it
      claimedBy.set(t, id);
      const mine = assignments.get(id) as TaskAssignment;
      if (mine.active.length < (quota.get(id) as number)) {
        mine.active.push(t);
        owner.set(t, id);
      }
    }
  }
  const revoked: number[] = [];
  for (let t = 0; t < n; t++) {
    if (owner.has(t)) continue;
    if (claimedBy.has(t)) {
      revoked.push(t);
      continue;
    }
    // A free task: to a member under its share, the most current copy first, then the least loaded.
    let best: string | undefined;
    let bestScore: [number, number] | undefined;
    for (const id of ids) {
      const mine = assignments.get(id) as TaskAssignment;
      if (mine.active.length >= (quota.get(id) as number)) continue;
      const score: [number, number] = [copyOf(id, t), mine.active.length];
      if (!bestScore || score[0] < bestScore[0] || (score[0] === bestScore[0] && score[1] < bestScore[1])) {
        best = id;
        bestScore = score;
      }
    }
    if (best === undefined) {
      // every share is full: only possible with revoked tasks holding slots; leave it for later
      revoked.push(t);
      continue;
    }
    (assignments.get(best) as TaskAssignment).active.push(t);
    owner.set(t, best);
  }

  const standbys = Math.max(0, Math.min(input.standbys ?? 0, ids.length - 1));
  /** Members that may not hold a standby of t: its owner and a member still running it. */
  const excludedFrom = (t: number): Set<string> => {
    const excluded = new Set<string>();
    const o = owner.get(t);
    if (o !== undefined) excluded.add(o);
    const c = claimedBy.get(t);
    if (c !== undefined) excluded.add(c);
    return excluded;
  };
  const standbyOf = (id: string) => (assignments.get(id) as TaskAssignment).standby;
  /** Standbys `id` holds of tasks that `t`'s owner runs (t's own excluded). */
  const sameOwner = (id: string, t: number) => {
    const o = owner.get(t);
    let k = 0;
    if (o !== undefined) for (const u of standbyOf(id)) if (u !== t && owner.get(u) === o) k++;
    return k;
  };
  // Even share of standbys per member; under it first, then spread (the standbys of one owner's
  // tasks on different members, so that when it dies each survivor can take one over from its
  // copy: one member holding them all has room for only some), then local state, then the least loaded.
  const cap = Math.ceil((n * standbys) / ids.length);
  for (let t = 0; t < n && standbys > 0; t++) {
    const excluded = excludedFrom(t);
    for (let k = 0; k < standbys; k++) {
      let best: string | undefined;
      let bestScore: number[] | undefined;
      for (const id of ids) {
        if (excluded.has(id)) continue;
        const count = standbyOf(id).length;
        const score = [count >= cap ? 1 : 0, sameOwner(id, t), copyOf(id, t), count];
        if (!bestScore || lexLess(score, bestScore)) {
          best = id;
          bestScore = score;
        }
      }
      if (best === undefined) break;
      excluded.add(best);
      standbyOf(best).push(t);
    }
  }
  balanceStandbys(ids, standbyOf, excludedFrom, state, sameOwner);
  for (const a of assignments.values()) {
    a.active.sort(byNumber);
    a.standby.sort(byNumber);
  }
  return { assignments, revoked: revoked.sort(byNumber) };
}

function lexLess(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

/**
 * Evens out standby counts that the greedy pass left uneven (a member that owns the very tasks
 * whose standbys it could have held): moves a standby from the most loaded member to the least
 * loaded one, directly or through a third member, preferring a task the receiver has state for.
 */
function balanceStandbys(
  ids: readonly string[],
  standbyOf: (id: string) => number[],
  excludedFrom: (t: number) => Set<string>,
  state: ReadonlyMap<string, Set<number>>,
  sameOwner: (id: string, t: number) => number,
): void {
  const canTake = (id: string, t: number) => !excludedFrom(t).has(id) && !standbyOf(id).includes(t);
  const move = (from: string, to: string, t: number) => {
    const list = standbyOf(from);
    list.splice(list.indexOf(t), 1);
    standbyOf(to).push(t);
  };
  /** A task of `from` that `to` can take: spread first (no other standby of its owner's on `to`), then local state on `to`. */
  const movable = (from: string, to: string): number | undefined => {
    const all = standbyOf(from).filter((t) => canTake(to, t));
    const spread = all.filter((t) => sameOwner(to, t) === 0);
    const options = spread.length > 0 ? spread : all;
    return options.find((t) => (state.get(to) as Set<number>).has(t)) ?? options[0];
  };
  for (let round = 0; round < 1000; round++) {
    const sorted = [...ids].sort((a, b) => standbyOf(b).length - standbyOf(a).length || (a < b ? -1 : 1));
    const most = sorted[0];
    const least = sorted[sorted.length - 1];
    if (standbyOf(most).length - standbyOf(least).length <= 1) return;
    const t = movable(most, least);
    if (t !== undefined) {
      move(most, least, t);
      continue;
    }
    let moved = false;
    for (const via of sorted) {
      if (via === most || via === least) continue;
      const u = movable(via, least);
      const v = u === undefined ? undefined : movable(most, via);
      if (u === undefined || v === undefined || u === v) continue;
      move(via, least, u);
      move(most, via, v);
      moved = true;
      break;
    }
    if (!moved) return;
  }
}

/** Encodes a member's claims as join metadata. */
export function encodeClaims(claims: MemberClaims): Buffer {
  return Buffer.from(
    JSON.stringify({
      tasks: claims.tasks,
      standbyState: claims.standbyState,
      standbys: claims.standbys,
      endpoint: claims.endpoint,
    }),
    'utf8',
  );
}

/** Decodes join metadata; anything unreadable (another client, an old version) claims nothing. */
export function decodeClaims(metadata: Buffer | string | undefined | null): MemberClaims {
  try {
    const parsed = JSON.parse(metadata === undefined || metadata === null ? '' : metadata.toString());
    const nums = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is number => Number.isInteger(x)) : []);
    const e = parsed?.endpoint;
    const endpoint =
      typeof e?.url === 'string' && typeof e?.worker === 'string'
        ? { url: e.url, worker: e.worker }
        : undefined;
    const standbys = nums(parsed?.standbys);
    return {
      tasks: nums(parsed?.tasks),
      standbyState: nums(parsed?.standbyState),
      ...(standbys.length === 0 ? {} : { standbys }),
      ...(endpoint === undefined ? {} : { endpoint }),
    };
  } catch {
    return { tasks: [], standbyState: [] };
  }
}
