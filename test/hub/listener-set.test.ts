import { createSignal, run, sleep, spawn, withResolvers } from "effection";
import { describe, expect, it } from "vitest";
import type { Message, TopicListener } from "../../src/hub/broker.js";
import { ListenerSet } from "../../src/hub/listener-set.js";

function message(seq: number): Message<number> {
  return { id: String(seq), seq, value: seq, time: 0 };
}

/** A listener that records what it got and can be made not ready. */
function listener(name: string, log: string[]) {
  const changed = createSignal<void, never>();
  const l = {
    ready: true,
    deliver: (m: Message<number>) => log.push(`${name} ${m.seq}`),
    *waitReady() {
      const sub = yield* changed;
      yield* sub.next();
    },
    setReady(ready: boolean) {
      l.ready = ready;
      changed.send();
    },
  };
  return l satisfies TopicListener<number>;
}

describe("ListenerSet", () => {
  it("delivers each message to every listener in the order they were added, and not after removal", () => {
    const log: string[] = [];
    const set = new ListenerSet<number>();
    set.add(listener("a", log));
    const removeB = set.add(listener("b", log));
    set.deliver(message(1));
    removeB();
    set.deliver(message(2));
    expect(log).toEqual(["a 1", "b 1", "a 2"]);
  });

  it("waits in untilReady while any listener is not ready, and returns at once when all are", async () => {
    const log: string[] = [];
    await run(function* () {
      const set = new ListenerSet<number>();
      const a = listener("a", log);
      set.add(a);
      yield* set.untilReady(); // all ready: at once
      a.setReady(false);
      const done = withResolvers<void>();
      yield* spawn(function* () {
        yield* set.untilReady();
        log.push("ready");
        done.resolve();
      });
      yield* sleep(0);
      expect(log).toEqual([]);
      a.setReady(true);
      yield* done.operation;
      expect(log).toEqual(["ready"]);
    });
  });
});
