import { type Operation, resource, type Stream } from "effection";
import type { Counters } from "../../src/inspect/index.js";
import type { Datagram } from "../../src/sources/index.js";

/**
 * The payload of a kick: `kick`, optionally followed by a space and anything
 * (produce.ts sends `kick <type>`). Anything else is garbage.
 */
export function isKick(datagram: Datagram): boolean {
  const text = datagram.data.subarray(0, 5).toString("latin1");
  return text === "kick" || text === "kick " || text === "kick\n";
}

/**
 * The kicks among `datagrams`: every datagram is counted (`datagrams`),
 * well-formed kicks (`kicks`) pass on, garbage is counted
 * (`datagramsIgnored`) and dropped, so it never wakes the consumer.
 *
 * @example
 * ```ts
 * const udp = yield* useUdpSocket({ port: 8001 });
 * const reasons = poll({ intervalMs: 60_000, kick: kicksFrom(udp.messages, counters) });
 * ```
 */
export function kicksFrom(
  datagrams: Stream<Datagram, never>,
  counters: Counters,
): Stream<Datagram, never> {
  return resource(function* (provide) {
    const subscription = yield* datagrams;
    yield* provide({
      *next(): Operation<IteratorResult<Datagram, never>> {
        for (;;) {
          const item = yield* subscription.next();
          counters.inc("datagrams");
          if (isKick(item.value)) {
            counters.inc("kicks");
            return item;
          }
          counters.inc("datagramsIgnored");
        }
      },
    });
  });
}
