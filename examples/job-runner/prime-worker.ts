/**
 * The worker the `prime` job runs in (a thread of the pool). One call counts
 * the primes in `[from, to]` by trial division, a deliberately CPU-bound
 * piece of work that would block the server's event loop if it ran there.
 */
import { defineWorker } from "../../src/pool/index.js";

function isPrime(n: number): boolean {
  if (n < 4) return n > 1;
  if (n % 2 === 0 || n % 3 === 0) return false;
  for (let d = 5; d * d <= n; d += 6) {
    if (n % d === 0 || n % (d + 2) === 0) return false;
  }
  return true;
}

/**
 * Counts the primes in `[from, to]`; returns the largest (0 if none) and the
 * first ten.
 *
 * @example
 * ```ts
 * countPrimes(1, 10); // { count: 4, largest: 7, first: [2, 3, 5, 7] }
 * ```
 */
export function countPrimes(
  from: number,
  to: number,
): { count: number; largest: number; first: number[] } {
  let count = 0;
  let largest = 0;
  const first: number[] = [];
  for (let n = Math.max(2, from); n <= to; n++) {
    if (isPrime(n)) {
      count++;
      largest = n;
      if (first.length < 10) first.push(n);
    }
  }
  return { count, largest, first };
}

export default defineWorker({ interface: { countPrimes } });
