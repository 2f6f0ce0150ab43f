/**
 * The shopping-cart job, Eddy's main example (`eddy demo` runs it).
 *
 * Input `cart-events` (JSON `CartEvent`, keyed by user). Each task keeps the carts of its users in
 * the `carts` store (user → `Cart`) and sends the cart's total to `cart-totals` after every change:
 * - `add` adds `qty` of `item` at `price` (creating the cart; `price` may be left out when the item
 *   is already in the cart);
 * - `update` sets the quantity of an item in the cart (0 removes it; `price` may change it);
 * - `remove` removes an item (removing an item the cart does not hold changes nothing and sends
 *   nothing);
 * - `checkout` sends the final total with `checkedOut: true` and deletes the cart.
 * A cart left empty is deleted. A bad event (unknown type, missing user or item, a quantity that is
 * not a positive integer for add or a non-negative one for update, a missing or negative price, an
 * update of an item not in the cart, a checkout of an empty cart) throws, and the job's `onError:
 * 'dead-letter'` sends it to `shopping-cart-dead-letters` with the reason.
 */
// The package's public entry (`eddy` once installed): the only place the example imports Eddy.
import {
  defineJob,
  type IncomingEnvelope,
  type KeyValueStore,
  type MessageCollector,
  type StreamTask,
  serdes,
  type TaskContext,
} from '../../src/index.js';
import { type Cart, type CartEvent, type CartTotal, cartTotal } from './events.js';

/** A bad event: thrown so the job's error policy decides (here: dead-letter). */
export class BadCartEventError extends Error {
  override name = 'BadCartEventError';
}

function isNonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

function requireItem(e: CartEvent): string {
  if (!isNonEmptyString(e.item)) throw new BadCartEventError(`${e.type} needs an item`);
  return e.item;
}

function requirePrice(e: CartEvent, fallback: number | undefined): number {
  const price = e.price ?? fallback;
  if (typeof price !== 'number' || !Number.isFinite(price) || price < 0) {
    throw new BadCartEventError(`${e.type} of "${e.item}" needs a price >= 0, got ${e.price}`);
  }
  return price;
}

/** Checks an event's shape; throws `BadCartEventError` naming what is wrong. */
export function parseCartEvent(value: unknown): CartEvent {
  if (typeof value !== 'object' || value === null) throw new BadCartEventError('event is not an object');
  const e = value as CartEvent;
  if (!['add', 'update', 'remove', 'checkout'].includes(e.type)) {
    throw new BadCartEventError(`unknown event type ${JSON.stringify(e.type)}`);
  }
  if (!isNonEmptyString(e.user)) throw new BadCartEventError(`${e.type} needs a user`);
  return e;
}

/**
 * Applies one event to a cart (a fresh copy is returned; the input is not changed). Returns
 * `undefined` when the event changes nothing. Throws `BadCartEventError` for a bad event.
 */
export function applyCartEvent(cart: Cart | undefined, e: CartEvent, now: number): Cart | undefined {
  const items = { ...cart?.items };
  switch (e.type) {
    case 'add': {
      const item = requireItem(e);
      const qty = e.qty ?? 1;
      if (!Number.isInteger(qty) || qty <= 0) {
        throw new BadCartEventError(`add of "${item}" needs a positive integer qty, got ${e.qty}`);
      }
      const held = items[item];
      items[item] = { qty: (held?.qty ?? 0) + qty, price: requirePrice(e, held?.price) };
      break;
    }
    case 'update': {
      const item = requireItem(e);
      const held = items[item];
      if (!held) throw new BadCartEventError(`update of "${item}", which is not in the cart`);
      if (typeof e.qty !== 'number' || !Number.isInteger(e.qty) || e.qty < 0) {
        throw new BadCartEventError(`update of "${item}" needs an integer qty >= 0, got ${e.qty}`);
      }
      if (e.qty === 0) delete items[item];
      else items[item] = { qty: e.qty, price: requirePrice(e, held.price) };
      break;
    }
    case 'remove': {
      const item = requireItem(e);
      if (!(item in items)) return undefined;
      delete items[item];
      break;
    }
    case 'checkout':
      throw new BadCartEventError('checkout is not a cart change (the task handles it)');
  }
  return { items, updatedAt: now };
}

/** One task: the carts of the users of one partition. */
export class CartTask implements StreamTask {
  private carts!: KeyValueStore<string, Cart>;

  init(ctx: TaskContext): void {
    this.carts = ctx.store<string, Cart>('carts');
  }

  process(envelope: IncomingEnvelope, out: MessageCollector): void {
    const event = parseCartEvent(envelope.value);
    const user = event.user;
    const cart = this.carts.get(user);
    if (event.type === 'checkout') {
      if (!cart || Object.keys(cart.items).length === 0) {
        throw new BadCartEventError(`checkout of ${user}'s cart, which is empty`);
      }
      this.carts.delete(user);
      const total: CartTotal = { user, total: cartTotal(cart), items: cart.items, checkedOut: true };
      out.send({ topic: 'cart-totals', key: user, value: total });
      return;
    }
    const next = applyCartEvent(cart, event, envelope.timestamp);
    if (next === undefined) return;
    if (Object.keys(next.items).length === 0) this.carts.delete(user);
    else this.carts.put(user, next);
    const total: CartTotal = { user, total: cartTotal(next), items: next.items };
    out.send({ topic: 'cart-totals', key: user, value: total });
  }
}

export default defineJob({
  name: 'shopping-cart',
  inputs: ['cart-events'],
  outputs: ['cart-totals'],
  stores: { carts: { key: serdes.string, value: serdes.json<Cart>() } },
  task: () => new CartTask(),
  onError: 'dead-letter',
});
