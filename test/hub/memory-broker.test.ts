import { run } from "effection";
import { describe, expect, it } from "vitest";
import {
  CursorExpiredError,
  createMemoryBroker,
  InvalidCursorError,
  type Message,
} from "../../src/hub/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

describe("createMemoryBroker", () => {
  it("numbers messages per topic and reads history in pages", async () => {
    await run(function* () {
      const broker = createMemoryBroker();
      const topic = yield* broker.open<number>("a", { history: 10 });
      const other = yield* broker.open<number>("b", { history: 10 });
      for (let i = 0; i < 5; i++) yield* topic.publish(i);
      yield* other.publish(99);
      expect(topic.lastDelivered()).toBe("5");
      expect(other.lastDelivered()).toBe("1");
      const first = yield* topic.read("0", 3);
      expect(first.messages.map((m) => m.id)).toEqual(["1", "2", "3"]);
      expect(first.end).toBe(false);
      const rest = yield* topic.read("3", 3);
      expect(rest.messages.map((m) => m.value)).toEqual([3, 4]);
      expect(rest.end).toBe(true);
      expect((yield* topic.read("5", 3)).messages).toEqual([]);
    });
  });

  it("keeps only the last `history` messages and says when a cursor expired", async () => {
    await run(function* () {
      const topic = yield* createMemoryBroker().open<number>("a", { history: 3 });
      for (let i = 1; i <= 10; i++) yield* topic.publish(i);
      expect((yield* topic.latest())?.value).toBe(10);
      expect((yield* topic.read("7", 10)).messages.map((m) => m.value)).toEqual([8, 9, 10]);
      let error: unknown;
      try {
        yield* topic.read("6", 10);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(CursorExpiredError);
      expect(error).toMatchObject({ resetTo: "7", reason: "trimmed" });
    });
  });

  it("rejects cursors that are not sequence numbers", async () => {
    await run(function* () {
      const topic = yield* createMemoryBroker().open<number>("a", { history: 3 });
      for (const bad of ["", "-1", "01", "1.5", "1-0", "abc"]) {
        let error: unknown;
        try {
          yield* topic.read(bad, 1);
        } catch (e) {
          error = e;
        }
        expect(error, bad).toBeInstanceOf(InvalidCursorError);
      }
    });
  });

  it("delivers to listeners in order and grows history for a later opener", async () => {
    await run(function* () {
      const broker = createMemoryBroker();
      const small = yield* broker.open<number>("a", { history: 1 });
      const seen: Message<number>[] = [];
      const stop = small.listen({ deliver: (m) => seen.push(m), ready: true, *waitReady() {} });
      yield* small.publish(1);
      const large = yield* broker.open<number>("a", { history: 5 });
      yield* large.publish(2);
      yield* large.publish(3);
      stop();
      yield* large.publish(4);
      expect(seen.map((m) => m.value)).toEqual([1, 2, 3]);
      expect((yield* large.read("0", 10)).messages.map((m) => m.value)).toEqual([1, 2, 3, 4]);
      expect(small.compare("9", "10")).toBeLessThan(0);
      expect(small.counters()).toEqual({ malformed: 0, duplicates: 0, errors: 0 });
    });
  });
});
