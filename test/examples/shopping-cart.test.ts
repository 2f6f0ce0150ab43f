import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type Cart,
  type CartEvent,
  cartTotal,
  generateCartEvents,
} from '../../examples/shopping-cart/events.js';
import job from '../../examples/shopping-cart/job.js';
import { deadLetterTopic } from '../../src/runtime/job.js';
import { TestDriver } from '../../src/runtime/test-driver/index.js';

async function driverFor(t: { after(fn: () => Promise<void>): void }, partitions = 1): Promise<TestDriver> {
  const driver = await TestDriver.create(job, { partitions, now: 1_000 });
  t.after(() => driver.close());
  return driver;
}

function send(driver: TestDriver, event: CartEvent): void {
  driver.send('cart-events', { key: event.user, value: event });
}

describe('shopping-cart example', () => {
  it('adds items to a new cart and sends the running total', async (t) => {
    const driver = await driverFor(t);
    send(driver, { type: 'add', user: 'ann', item: 'tea', qty: 2, price: 4.3 });
    send(driver, { type: 'add', user: 'ann', item: 'milk', qty: 1, price: 1.15 });
    send(driver, { type: 'add', user: 'ann', item: 'tea', qty: 1 });
    const totals = driver.outputs('cart-totals').map((o) => o.value);
    assert.deepEqual(totals, [
      { user: 'ann', total: 8.6, items: { tea: { qty: 2, price: 4.3 } } },
      { user: 'ann', total: 9.75, items: { tea: { qty: 2, price: 4.3 }, milk: { qty: 1, price: 1.15 } } },
      { user: 'ann', total: 14.05, items: { tea: { qty: 3, price: 4.3 }, milk: { qty: 1, price: 1.15 } } },
    ]);
    assert.deepEqual(driver.outputs('cart-totals')[0].key, 'ann');
    assert.deepEqual(driver.store<string, Cart>('carts').get('ann'), {
      items: { tea: { qty: 3, price: 4.3 }, milk: { qty: 1, price: 1.15 } },
      updatedAt: 1_000,
    });
  });

  it('update sets the quantity, and 0 removes the item', async (t) => {
    const driver = await driverFor(t);
    send(driver, { type: 'add', user: 'bob', item: 'eggs', qty: 1, price: 3 });
    send(driver, { type: 'add', user: 'bob', item: 'rice', qty: 1, price: 2 });
    send(driver, { type: 'update', user: 'bob', item: 'eggs', qty: 5 });
    send(driver, { type: 'update', user: 'bob', item: 'rice', qty: 0 });
    const totals = driver.outputs('cart-totals').map((o) => o.value);
    assert.deepEqual(totals.slice(2), [
      { user: 'bob', total: 17, items: { eggs: { qty: 5, price: 3 }, rice: { qty: 1, price: 2 } } },
      { user: 'bob', total: 15, items: { eggs: { qty: 5, price: 3 } } },
    ]);
    assert.deepEqual(driver.store<string, Cart>('carts').get('bob')?.items, { eggs: { qty: 5, price: 3 } });
  });

  it('remove drops the item; a cart left empty is deleted; removing a missing item sends nothing', async (t) => {
    const driver = await driverFor(t);
    send(driver, { type: 'add', user: 'cy', item: 'tea', qty: 1, price: 4 });
    send(driver, { type: 'remove', user: 'cy', item: 'coffee' });
    send(driver, { type: 'remove', user: 'cy', item: 'tea' });
    assert.deepEqual(
      driver.outputs('cart-totals').map((o) => o.value),
      [
        { user: 'cy', total: 4, items: { tea: { qty: 1, price: 4 } } },
        { user: 'cy', total: 0, items: {} },
      ],
    );
    assert.equal(driver.store('carts').get('cy'), undefined);
  });

  it('checkout sends the final total and deletes the cart, and the delete reaches the changelog', async (t) => {
    const driver = await driverFor(t);
    send(driver, { type: 'add', user: 'di', item: 'cheese', qty: 2, price: 5.75 });
    await driver.commit();
    send(driver, { type: 'checkout', user: 'di' });
    assert.deepEqual(driver.outputs('cart-totals').at(-1), {
      key: 'di',
      value: { user: 'di', total: 11.5, items: { cheese: { qty: 2, price: 5.75 } }, checkedOut: true },
      partition: 0,
    });
    assert.equal(driver.store('carts').get('di'), undefined);
    await driver.commit();
    const changelog = driver.changelog<string, Cart>('carts');
    assert.equal(changelog.length, 2);
    assert.equal(changelog[0].key, 'di');
    assert.deepEqual(changelog[0].value?.items, { cheese: { qty: 2, price: 5.75 } });
    assert.deepEqual(changelog[1], { offset: 1, key: 'di', value: null });
  });

  it('sends bad events to the dead-letter topic with the reason, and goes on', async (t) => {
    const driver = await driverFor(t);
    const bad: unknown[] = [
      { type: 'steal', user: 'ed', item: 'tea' },
      { type: 'add', user: 'ed', item: 'tea', qty: -1, price: 4 },
      { type: 'add', user: 'ed', qty: 1, price: 4 },
      { type: 'add', user: 'ed', item: 'tea', qty: 1 },
      { type: 'update', user: 'ed', item: 'tea', qty: 2 },
      { type: 'checkout', user: 'ed' },
    ];
    for (const value of bad) driver.send('cart-events', { key: 'ed', value });
    driver.send('cart-events', { key: 'ed', value: null });
    const dead = driver.outputs<Buffer, Buffer>(deadLetterTopic('shopping-cart'));
    assert.equal(dead.length, bad.length + 1);
    const reasons = dead.map((d) => d.headers?.['eddy.error']?.toString());
    assert.match(reasons[0] ?? '', /unknown event type "steal"/);
    assert.match(reasons[1] ?? '', /positive integer qty/);
    assert.match(reasons[2] ?? '', /needs an item/);
    assert.match(reasons[3] ?? '', /needs a price/);
    assert.match(reasons[4] ?? '', /not in the cart/);
    assert.match(reasons[5] ?? '', /empty/);
    assert.match(reasons[6] ?? '', /event is not an object/);
    assert.deepEqual(JSON.parse(dead[0].value?.toString() ?? ''), bad[0]);
    assert.equal(dead[0].key?.toString(), 'ed');
    assert.equal(dead[1].headers?.['eddy.offset']?.toString(), '1');
    assert.equal(driver.metrics().deadLettered, bad.length + 1);
    assert.deepEqual(driver.outputs('cart-totals'), []);

    send(driver, { type: 'add', user: 'ed', item: 'tea', qty: 1, price: 4 });
    assert.equal(driver.outputs('cart-totals').length, 1);
  });

  it('dead-letters a value that is not JSON with the raw bytes', async (t) => {
    const driver = await driverFor(t);
    driver.sendRaw('cart-events', { key: Buffer.from('fay'), value: Buffer.from('{"type":"add",') });
    const dead = driver.outputs<Buffer, Buffer>(deadLetterTopic('shopping-cart'));
    assert.equal(dead.length, 1);
    assert.equal(dead[0].value?.toString(), '{"type":"add",');
    assert.match(dead[0].headers?.['eddy.error']?.toString() ?? '', /could not be decoded/);
    assert.equal(dead[0].headers?.['eddy.topic']?.toString(), 'cart-events');
  });

  it('keeps each user in the task of its partition', async (t) => {
    const driver = await driverFor(t, 4);
    const users = ['ann', 'bob', 'cy', 'di', 'ed', 'fay', 'gus', 'hal'];
    for (const user of users) send(driver, { type: 'add', user, item: 'tea', qty: 1, price: 1 });
    for (const user of users) {
      const { partition } = driver.outputs('cart-totals').find((o) => o.key === user) ?? { partition: -1 };
      assert.ok(driver.store('carts', partition).get(user), `${user}'s cart is in partition ${partition}`);
      for (let p = 0; p < 4; p++)
        if (p !== partition) assert.equal(driver.store('carts', p).get(user), undefined);
    }
  });

  it('processes a generated stream without dead letters, and totals match a model', async (t) => {
    const driver = await driverFor(t, 3);
    const model = new Map<string, Map<string, { qty: number; price: number }>>();
    let checkouts = 0;
    for (const { key, value } of generateCartEvents({ users: 50, events: 3_000, seed: 7 })) {
      assert.equal(key, value.user);
      driver.send('cart-events', { key, value });
      let cart = model.get(key);
      if (!cart) model.set(key, (cart = new Map()));
      if (value.type === 'add') {
        const held = cart.get(value.item as string);
        cart.set(value.item as string, {
          qty: (held?.qty ?? 0) + (value.qty ?? 1),
          price: value.price ?? (held?.price as number),
        });
      } else if (value.type === 'update') {
        if (value.qty === 0) cart.delete(value.item as string);
        else
          cart.set(value.item as string, {
            ...(cart.get(value.item as string) as { qty: number; price: number }),
            qty: value.qty as number,
          });
      } else if (value.type === 'remove') cart.delete(value.item as string);
      else {
        checkouts++;
        cart.clear();
      }
    }
    assert.equal(driver.metrics().deadLettered, 0);
    assert.equal(driver.metrics().processed, 3_000);
    assert.ok(checkouts > 50, `${checkouts} checkouts`);
    assert.equal(
      driver.outputs('cart-totals').filter((o) => (o.value as { checkedOut?: boolean }).checkedOut).length,
      checkouts,
    );
    for (const [user, items] of model) {
      const p = driver.outputs('cart-totals').find((o) => o.key === user)?.partition ?? 0;
      const stored = driver.store<string, Cart>('carts', p).get(user);
      if (items.size === 0) assert.equal(stored, undefined);
      else {
        assert.deepEqual(stored?.items, Object.fromEntries(items));
        assert.equal(
          cartTotal(stored as Cart),
          cartTotal({ items: Object.fromEntries(items), updatedAt: 0 }),
        );
      }
    }
  });
});

describe('generateCartEvents', () => {
  it('is deterministic for a seed and mostly adds', () => {
    const a = [...generateCartEvents({ users: 10, events: 1_000, seed: 1 })];
    const b = [...generateCartEvents({ users: 10, events: 1_000, seed: 1 })];
    const c = [...generateCartEvents({ users: 10, events: 1_000, seed: 2 })];
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    const adds = a.filter((e) => e.value.type === 'add').length;
    assert.ok(adds > 500 && adds < 900, `${adds} adds`);
    for (const type of ['update', 'remove', 'checkout']) {
      assert.ok(
        a.some((e) => e.value.type === type),
        `has ${type}`,
      );
    }
  });

  it('cartTotal sums qty × price, rounded to cents', () => {
    assert.equal(
      cartTotal({ items: { a: { qty: 3, price: 0.1 }, b: { qty: 1, price: 0.2 } }, updatedAt: 0 }),
      0.5,
    );
    assert.equal(cartTotal({ items: {}, updatedAt: 0 }), 0);
  });
});
