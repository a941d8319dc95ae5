import { run, sleep, spawn, suspend } from "effection";
import { describe, expect, it } from "vitest";
import { label, labelTree } from "../../src/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

const server = () => labelTree().children.find((c) => c.name === "server");

describe("label", () => {
  it("shows labelled tasks as a live tree and removes them when they end", async () => {
    await run(function* () {
      yield* label("server");
      const ticker = yield* spawn(function* () {
        yield* label("ticker");
        yield* suspend();
      });
      yield* spawn(function* () {
        yield* label("first name");
        yield* label("renamed");
        yield* suspend();
      });
      yield* spawn(function* () {
        // not labelled: its labelled children hang from "server"
        yield* spawn(function* () {
          yield* label("grandchild");
          yield* suspend();
        });
        yield* suspend();
      });
      yield* sleep(0);
      expect(
        server()
          ?.children.map((c) => c.name)
          .sort(),
      ).toEqual(["grandchild", "renamed", "ticker"]);
      yield* ticker.halt();
      expect(
        server()
          ?.children.map((c) => c.name)
          .sort(),
      ).toEqual(["grandchild", "renamed"]);
    });
    expect(server()).toBeUndefined();
  });
});
