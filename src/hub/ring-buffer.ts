/**
 * A fixed-capacity FIFO queue on a circular array: `push`, `shift`, `peek`
 * and `at` are O(1) and never move elements, so a full buffer of a slow
 * subscriber costs the publisher no more than an empty one.
 */
export interface RingBuffer<T> {
  /** How many items it can hold. */
  readonly capacity: number;
  /** How many items it holds. */
  readonly size: number;
  /** Appends `item`; when full, first discards and returns the oldest item. */
  push(item: T): T | undefined;
  /** Removes and returns the oldest item. */
  shift(): T | undefined;
  /** The oldest item, left in place. */
  peek(): T | undefined;
  /** The newest item, left in place. */
  last(): T | undefined;
  /** The item at position `index` (0 is the oldest). */
  at(index: number): T | undefined;
  /** Removes every item. */
  clear(): void;
}

/**
 * Creates a {@link RingBuffer} of `capacity` items (at least 1).
 *
 * @example
 * ```ts
 * const ring = createRingBuffer<number>(2);
 * ring.push(1); ring.push(2);
 * ring.push(3);        // returns 1, the discarded oldest item
 * ring.shift();        // 2
 * ```
 */
export function createRingBuffer<T>(capacity: number): RingBuffer<T> {
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new RangeError(`ring buffer capacity must be an integer >= 1, got ${capacity}`);
  }
  return new Ring<T>(capacity);
}

/** Slots allocated up front; the array doubles (up to `capacity`) as it fills. */
const INITIAL_SLOTS = 16;

class Ring<T> implements RingBuffer<T> {
  readonly capacity: number;
  size = 0;
  private head = 0;
  /**
   * The slots. It starts small and doubles when full, up to `capacity`: an idle
   * subscription (most of them, behind 10,000 SSE connections) then costs 16
   * slots, not `capacity`. Growing copies, so a push stays O(1) amortised.
   */
  private items: (T | undefined)[];

  constructor(capacity: number) {
    this.capacity = capacity;
    this.items = new Array<T | undefined>(Math.min(capacity, INITIAL_SLOTS)).fill(undefined);
  }

  push(item: T): T | undefined {
    let dropped: T | undefined;
    if (this.size === this.items.length) {
      if (this.size < this.capacity) this.grow();
      else dropped = this.shift();
    }
    const slots = this.items.length;
    let tail = this.head + this.size;
    if (tail >= slots) tail -= slots;
    this.items[tail] = item;
    this.size++;
    return dropped;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    if (++this.head === this.items.length) this.head = 0;
    this.size--;
    return item;
  }

  private grow(): void {
    const old = this.items;
    const slots = Math.min(this.capacity, old.length * 2);
    const items = new Array<T | undefined>(slots).fill(undefined);
    for (let i = 0; i < this.size; i++) {
      let j = this.head + i;
      if (j >= old.length) j -= old.length;
      items[i] = old[j];
    }
    this.items = items;
    this.head = 0;
  }

  peek(): T | undefined {
    return this.size === 0 ? undefined : this.items[this.head];
  }

  last(): T | undefined {
    return this.size === 0 ? undefined : this.at(this.size - 1);
  }

  at(index: number): T | undefined {
    if (index < 0 || index >= this.size) return undefined;
    let i = this.head + index;
    if (i >= this.items.length) i -= this.items.length;
    return this.items[i];
  }

  clear(): void {
    while (this.size > 0) this.shift();
  }
}
