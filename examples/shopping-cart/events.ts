/**
 * The shopping-cart example's data: the event and cart shapes, `cartTotal`, and a deterministic
 * generator of realistic event streams (`generateCartEvents`) that `eddy demo` feeds into the log.
 *
 * This file is plain TypeScript with no Eddy import, so the generator can run anywhere (a producer
 * script, a benchmark, a test).
 */

/** What happens to a user's cart. Keyed by `user` on the `cart-events` topic. */
export interface CartEvent {
  type: 'add' | 'update' | 'remove' | 'checkout';
  user: string;
  /** Required by add, update and remove. */
  item?: string;
  /** add: how many to add (> 0); update: the new quantity (>= 0; 0 removes the item). */
  qty?: number;
  /** Unit price, in the shop's currency; add sets it, update may change it. */
  price?: number;
}

export interface CartLine {
  qty: number;
  price: number;
}

/** The `carts` store's value: one cart per user. */
export interface Cart {
  items: Record<string, CartLine>;
  /** Timestamp (ms) of the event that last changed the cart. */
  updatedAt: number;
}

/** What the job sends to `cart-totals` after each change. */
export interface CartTotal {
  user: string;
  total: number;
  items: Record<string, CartLine>;
  /** Present (true) on the final total sent at checkout. */
  checkedOut?: true;
}

/** Sum of qty × price over the cart's items, rounded to cents. */
export function cartTotal(cart: Cart): number {
  let total = 0;
  for (const line of Object.values(cart.items)) total += line.qty * line.price;
  return Math.round(total * 100) / 100;
}

export interface GenerateOptions {
  /** How many distinct users (keys). */
  users: number;
  /** How many events to yield. */
  events: number;
  /** Same seed, same stream. */
  seed: number;
}

const CATALOG: readonly (readonly [string, number])[] = [
  ['apple', 0.5],
  ['banana', 0.25],
  ['bread', 2.4],
  ['butter', 3.1],
  ['cheese', 5.75],
  ['coffee', 8.9],
  ['eggs', 3.2],
  ['milk', 1.15],
  ['pasta', 1.8],
  ['rice', 2.6],
  ['tea', 4.3],
  ['tomato', 0.4],
  ['water', 0.6],
  ['yogurt', 0.95],
];

/** mulberry32: a small, fast, seedable PRNG (deterministic across platforms). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Yields `events` cart events over `users` users, each with its key (the user). Deterministic for
 * a seed. The stream is valid for the job: updates and removes only name items the user's cart
 * holds, and a checkout only follows a non-empty cart. Roughly 70% adds, 12% updates, 10% removes,
 * 8% checkouts (an event that cannot apply to the current cart becomes an add).
 */
export function* generateCartEvents(options: GenerateOptions): Generator<{ key: string; value: CartEvent }> {
  const { users, events, seed } = options;
  if (!Number.isInteger(users) || users < 1) throw new RangeError(`users must be a positive integer`);
  if (!Number.isInteger(events) || events < 0) throw new RangeError(`events must be an integer >= 0`);
  const random = prng(seed);
  const pick = (n: number): number => Math.floor(random() * n);
  // What each user's cart holds, so updates/removes/checkouts are meaningful.
  const carts = new Map<string, Set<string>>();
  const width = String(users - 1).length;
  for (let i = 0; i < events; i++) {
    const user = `user-${String(pick(users)).padStart(width, '0')}`;
    let cart = carts.get(user);
    if (!cart) {
      cart = new Set();
      carts.set(user, cart);
    }
    const held = [...cart];
    const roll = random();
    let event: CartEvent;
    if (roll < 0.12 && held.length > 0) {
      const item = held[pick(held.length)];
      event = { type: 'update', user, item, qty: pick(5) };
      if (event.qty === 0) cart.delete(item);
    } else if (roll < 0.22 && held.length > 0) {
      const item = held[pick(held.length)];
      event = { type: 'remove', user, item };
      cart.delete(item);
    } else if (roll < 0.3 && held.length > 0) {
      event = { type: 'checkout', user };
      cart.clear();
    } else {
      const [item, price] = CATALOG[pick(CATALOG.length)];
      event = { type: 'add', user, item, qty: 1 + pick(3), price };
      cart.add(item);
    }
    yield { key: user, value: event };
  }
}
