/**
 * A memory budget shared by the caches of many stores (Kafka Streams' ThreadCache): every cache
 * charges its bytes here (key and value bytes plus the fixed overheads per entry, as it counts them
 * itself), and a cache that inserts while the total is over the limit evicts its own least recently
 * used entries — writing its dirty entries down first, so nothing is lost — until the total is
 * back under the limit or that cache is empty. The cache that inserts pays: a store that reads
 * little keeps what it holds, a store that streams through many keys recycles its own space.
 *
 * Corner cases: a budget of 0 bytes keeps no entry in any cache (each insert evicts at once); the
 * total can pass the limit by at most one entry, between an insert and the eviction that follows
 * it; a closed cache gives all of its bytes back.
 */
import { InvalidArgumentError } from '../util/errors.js';

export class CacheBudget {
  /** Bytes charged by every cache now. */
  usedBytes = 0;
  /** Peak of `usedBytes` after evictions settled (what the budget held at most). */
  peakBytes = 0;

  constructor(readonly limitBytes: number) {
    if (!Number.isSafeInteger(limitBytes) || limitBytes < 0) {
      throw new InvalidArgumentError(
        `cache budget: expected a whole number of bytes >= 0, got ${String(limitBytes)}`,
      );
    }
  }

  /** Adds `delta` bytes (negative: gives them back). */
  charge(delta: number): void {
    this.usedBytes += delta;
  }

  /** Whether the caches hold more than the limit (the inserting cache then evicts). */
  get over(): boolean {
    return this.usedBytes > this.limitBytes;
  }

  /** Records the total once a cache settled (after its evictions). */
  settle(): void {
    if (this.usedBytes > this.peakBytes) this.peakBytes = this.usedBytes;
  }
}
