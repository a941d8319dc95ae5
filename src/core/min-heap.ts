/**
 * A binary min-heap: O(log n) `push` and `pop`, O(1) `peek`. Internal to
 * bough (timers of the virtual clock, the pool's deadlines); not exported from
 * the package.
 */
export interface MinHeap<T> {
  /** How many items it holds. */
  readonly size: number;
  push(item: T): void;
  /** The smallest item, or `undefined` when empty. */
  peek(): T | undefined;
  /** Removes and returns the smallest item, or `undefined` when empty. */
  pop(): T | undefined;
  /** Keeps only the items for which `keep` is true (O(n)). */
  retain(keep: (item: T) => boolean): void;
  /** Removes every item. */
  clear(): void;
}

/**
 * Creates an empty {@link MinHeap} ordered by `before(a, b)` ("a comes first").
 *
 * @example
 * ```ts
 * const timers = createMinHeap<{ at: number }>((a, b) => a.at < b.at);
 * timers.push({ at: 30 });
 * timers.push({ at: 10 });
 * timers.pop(); // { at: 10 }
 * ```
 */
export function createMinHeap<T>(before: (a: T, b: T) => boolean): MinHeap<T> {
  return new Heap(before);
}

class Heap<T> implements MinHeap<T> {
  private items: T[] = [];

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    this.items.push(item);
    this.up(this.items.length - 1);
  }

  peek(): T | undefined {
    return this.items[0];
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      this.down(0);
    }
    return top;
  }

  retain(keep: (item: T) => boolean): void {
    const kept = this.items.filter(keep);
    this.items = kept;
    for (let i = (kept.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  clear(): void {
    this.items = [];
  }

  private up(i: number): void {
    const items = this.items;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(items[i], items[parent])) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }

  private down(i: number): void {
    const items = this.items;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < items.length && this.before(items[l], items[m])) m = l;
      if (r < items.length && this.before(items[r], items[m])) m = r;
      if (m === i) break;
      [items[i], items[m]] = [items[m], items[i]];
      i = m;
    }
  }
}
