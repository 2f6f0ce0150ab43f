/** The Kafka coordinator's task assignor: balanced, sticky, safe to hand over, with standbys. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assignTasks,
  decodeClaims,
  encodeClaims,
  type MemberClaims,
} from '../../../src/runtime/kafka-group/task-assignor.js';
import { prng } from '../../helpers/prng.js';

const m = (entries: Record<string, Partial<MemberClaims>>) =>
  new Map(
    Object.entries(entries).map(([id, c]) => [
      id,
      { tasks: c.tasks ?? [], standbyState: c.standbyState ?? [], standbys: c.standbys },
    ]),
  );

function counts(r: ReturnType<typeof assignTasks>): number[] {
  return [...r.assignments.values()].map((a) => a.active.length);
}

describe('assignTasks', () => {
  it('gives every task to exactly one member, balanced, when nobody claims anything', () => {
    const r = assignTasks({ members: m({ a: {}, b: {}, c: {} }), taskCount: 8 });
    const all = [...r.assignments.values()].flatMap((a) => a.active).sort((x, y) => x - y);
    assert.deepEqual(all, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.ok(Math.max(...counts(r)) - Math.min(...counts(r)) <= 1);
    assert.deepEqual(r.revoked, []);
  });

  it('is deterministic whatever the order of the members', () => {
    const one = assignTasks({ members: m({ a: {}, b: {}, c: {} }), taskCount: 7, standbys: 1 });
    const two = assignTasks({ members: m({ c: {}, a: {}, b: {} }), taskCount: 7, standbys: 1 });
    assert.deepEqual([...one.assignments].sort(), [...two.assignments].sort());
  });

  it('is sticky: members keep the tasks they run', () => {
    const r = assignTasks({ members: m({ a: { tasks: [0, 2, 4] }, b: { tasks: [1, 3, 5] } }), taskCount: 6 });
    assert.deepEqual(r.assignments.get('a')?.active, [0, 2, 4]);
    assert.deepEqual(r.assignments.get('b')?.active, [1, 3, 5]);
  });

  it('never gives a task another live member still runs: it is revoked until released', () => {
    const members = m({ a: { tasks: [0, 1, 2, 3, 4, 5] }, b: {}, c: {} });
    const r = assignTasks({ members, taskCount: 6 });
    assert.deepEqual(r.assignments.get('a')?.active.length, 2);
    assert.deepEqual(r.assignments.get('b')?.active, []);
    assert.equal(r.revoked.length, 4);
    // a released them and rejoined: the next generation balances
    const kept = r.assignments.get('a')?.active ?? [];
    const next = assignTasks({ members: m({ a: { tasks: kept }, b: {}, c: {} }), taskCount: 6 });
    assert.deepEqual(counts(next), [2, 2, 2]);
    assert.deepEqual(next.assignments.get('a')?.active, kept);
    assert.deepEqual(next.revoked, []);
  });

  it('gives a free task to a member with local state for it (a standby takes over)', () => {
    const r = assignTasks({
      members: m({ a: { tasks: [0, 1] }, b: { tasks: [2, 3] }, c: { standbyState: [4, 5] }, d: {} }),
      taskCount: 6,
    });
    assert.deepEqual(
      r.assignments.get('c')?.active.sort(),
      [4, 5].slice(0, r.assignments.get('c')?.active.length),
    );
    assert.ok(r.assignments.get('c')?.active.includes(4));
  });

  it('gives a free task to the member with a live standby of it, not to one with an older copy', () => {
    // a died; b and c both have directories for its tasks 0 and 2 (from earlier generations), but
    // only c keeps a standby of 0 and only b one of 2: their copies are current, the others may be
    // far behind (CI saw a task replay 501 of 672 changelog records from such a copy)
    const r = assignTasks({
      members: m({
        b: { tasks: [1, 4], standbyState: [0, 1, 2, 4], standbys: [2] },
        c: { tasks: [3, 5], standbyState: [0, 2, 3, 5], standbys: [0] },
      }),
      taskCount: 6,
      standbys: 1,
    });
    assert.deepEqual(r.assignments.get('b')?.active, [1, 2, 4]);
    assert.deepEqual(r.assignments.get('c')?.active, [0, 3, 5]);
  });

  it('places standbys on other members, preferring local state', () => {
    const r = assignTasks({
      members: m({ a: {}, b: { standbyState: [0] }, c: {} }),
      taskCount: 6,
      standbys: 1,
    });
    for (let t = 0; t < 6; t++) {
      const owners = [...r.assignments].filter(([, a]) => a.active.includes(t)).map(([id]) => id);
      const standbys = [...r.assignments].filter(([, a]) => a.standby.includes(t)).map(([id]) => id);
      assert.equal(owners.length, 1);
      assert.equal(standbys.length, 1);
      assert.notEqual(owners[0], standbys[0]);
    }
    const owner0 = [...r.assignments].find(([, a]) => a.active.includes(0))?.[0];
    if (owner0 !== 'b') assert.ok(r.assignments.get('b')?.standby.includes(0));
  });

  it('balances standbys even when the members with state own the other tasks', () => {
    const all = [0, 1, 2, 3, 4, 5];
    const r = assignTasks({
      members: m({
        a: { tasks: [4, 5] },
        b: { tasks: [0, 2], standbyState: all },
        c: { tasks: [1, 3], standbyState: all },
      }),
      taskCount: 6,
      standbys: 1,
    });
    for (const [id, a] of r.assignments) {
      assert.equal(a.standby.length, 2, `${id}: ${JSON.stringify(a)}`);
      for (const t of a.standby) assert.ok(!a.active.includes(t));
    }
    const placed = [...r.assignments.values()].flatMap((a) => a.standby).sort((x, y) => x - y);
    assert.deepEqual(placed, all);
  });

  it('spreads the standbys of one member’s tasks over the others, so each survivor of its death takes one over from a copy', () => {
    // b has local state for both of a's tasks (earlier generations); by state alone it would hold
    // both standbys, and with its share full after taking one, the other task would start from nothing
    const r = assignTasks({
      members: m({
        a: { tasks: [0, 1] },
        b: { tasks: [2, 3], standbyState: [0, 1, 2, 3] },
        c: { tasks: [4, 5], standbyState: [4, 5] },
      }),
      taskCount: 6,
      standbys: 1,
    });
    const holders = (t: number) =>
      [...r.assignments].filter(([, x]) => x.standby.includes(t)).map(([id]) => id);
    for (const [id, a] of r.assignments) {
      const [t, u] = a.active;
      assert.notDeepEqual(
        holders(t),
        holders(u),
        `${id}'s tasks [${a.active}] have their standbys on one member`,
      );
    }
    // a dies: each survivor gets one of its tasks, and holds that task's standby copy
    const standbyState = (id: string) => [
      ...(r.assignments.get(id)?.active ?? []),
      ...(r.assignments.get(id)?.standby ?? []),
    ];
    const after = assignTasks({
      members: m({
        b: { tasks: r.assignments.get('b')?.active, standbyState: standbyState('b') },
        c: { tasks: r.assignments.get('c')?.active, standbyState: standbyState('c') },
      }),
      taskCount: 6,
      standbys: 1,
    });
    for (const t of r.assignments.get('a')?.active ?? []) {
      const [owner] = [...after.assignments].filter(([, x]) => x.active.includes(t)).map(([id]) => id);
      assert.ok(standbyState(owner).includes(t), `task ${t} went to ${owner}, which has no copy of it`);
    }
  });

  it('caps standbys at members - 1 and handles no members', () => {
    const r = assignTasks({ members: m({ a: {} }), taskCount: 3, standbys: 2 });
    assert.deepEqual(r.assignments.get('a'), { active: [0, 1, 2], standby: [] });
    assert.equal(assignTasks({ members: new Map(), taskCount: 3 }).assignments.size, 0);
  });

  it('keeps balance within one over many random claim sets (seed printed)', () => {
    const seed = Date.now() % 100000;
    const random = prng(seed);
    const rnd = (n: number) => Math.floor(random() * n);
    for (let round = 0; round < 200; round++) {
      const taskCount = 1 + rnd(20);
      const ids = Array.from({ length: 1 + rnd(5) }, (_, i) => `m${i}`);
      const claims: Record<string, Partial<MemberClaims>> = {};
      const owner = new Map<number, string>();
      for (let t = 0; t < taskCount; t++) if (rnd(2)) owner.set(t, ids[rnd(ids.length)]);
      for (const id of ids) claims[id] = { tasks: [...owner].filter(([, o]) => o === id).map(([t]) => t) };
      let r = assignTasks({ members: m(claims), taskCount, standbys: rnd(3) });
      // settle: members release revoked tasks and rejoin
      for (let i = 0; i < 3 && r.revoked.length > 0; i++) {
        const next: Record<string, Partial<MemberClaims>> = {};
        for (const [id, a] of r.assignments) next[id] = { tasks: a.active };
        r = assignTasks({ members: m(next), taskCount });
      }
      const c = counts(r);
      assert.ok(Math.max(...c) - Math.min(...c) <= 1, `seed ${seed} round ${round}: ${c}`);
      assert.equal(
        c.reduce((x, y) => x + y, 0),
        taskCount,
        `seed ${seed} round ${round}`,
      );
    }
  });
});

describe('claims metadata', () => {
  it('round-trips and tolerates garbage', () => {
    assert.deepEqual(decodeClaims(encodeClaims({ tasks: [1, 2], standbyState: [3] })), {
      tasks: [1, 2],
      standbyState: [3],
    });
    assert.deepEqual(decodeClaims(encodeClaims({ tasks: [], standbyState: [3], standbys: [3] })), {
      tasks: [],
      standbyState: [3],
      standbys: [3],
    });
    assert.deepEqual(decodeClaims(Buffer.from('not json')), { tasks: [], standbyState: [] });
    assert.deepEqual(decodeClaims(undefined), { tasks: [], standbyState: [] });
  });
});
