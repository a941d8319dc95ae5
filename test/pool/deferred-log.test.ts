import { describe, expect, it } from "vitest";
import { createDeferredLog, LogLevel } from "../../src/pool/index.js";

function fakeTime(start: number) {
  let now = start;
  return { now: () => now, set: (t: number) => (now = t) };
}

describe("createDeferredLog", () => {
  it("records lines with levels and times relative to its start, in seconds", () => {
    const time = fakeTime(1_000_000);
    const log = createDeferredLog({ now: time.now });
    time.set(1_000_250);
    log.info("hello", { a: 1 });
    time.set(1_000_500);
    log.error("bad");
    expect(log.toJSON()).toEqual({
      start: 1000,
      logs: [
        [0.25, LogLevel.info, "hello", { a: 1 }],
        [0.5, LogLevel.error, "bad"],
      ],
      timers: [],
    });
  });

  it("records timers and data, and an end time once ended", () => {
    const time = fakeTime(0);
    const log = createDeferredLog({ now: time.now });
    expect(log.isEmpty).toBe(true);
    const timer = log.timer("query");
    time.set(40);
    timer.end();
    time.set(90);
    timer.end();
    log.data.user = "jimmy";
    time.set(100);
    expect(log.end()).toEqual({
      start: 0,
      end: 0.1,
      logs: [],
      timers: [["query", 0, 0.04]],
      data: { user: "jimmy" },
    });
    expect(log.isEmpty).toBe(false);
  });

  it("merges another log with its times shifted onto this log's timeline", () => {
    const time = fakeTime(10_000);
    const client = createDeferredLog({ now: time.now });
    time.set(10_100);
    client.info("sending");
    time.set(10_300);
    client.info("received");
    const worker = {
      start: 10.15,
      logs: [[0.05, 30, "working"]],
      timers: [["bcrypt", 0, 0.1]],
    };
    client.merge(worker as never);
    const data = client.toJSON();
    expect(data.logs.map((l) => [Number(l[0].toFixed(3)), l[2]])).toEqual([
      [0.1, "sending"],
      [0.2, "working"],
      [0.3, "received"],
    ]);
    expect(data.timers.map(([name, s, e]) => [name, s.toFixed(3), e?.toFixed(3)])).toEqual([
      ["bcrypt", "0.150", "0.250"],
    ]);
  });

  it("keeps two timers of the same name, in start order", () => {
    const time = fakeTime(0);
    const log = createDeferredLog({ now: time.now });
    const a = log.timer("q");
    time.set(10);
    const b = log.timer("q");
    time.set(20);
    b.end();
    a.end();
    expect(log.toJSON().timers).toEqual([
      ["q", 0, 0.02],
      ["q", 0.01, 0.02],
    ]);
  });
});
