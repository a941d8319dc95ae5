import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

describe("examples/poll-kickstart", () => {
  it("runs the consumer on kicks and on the timer, then stops cleanly", () => {
    const result = spawnSync(
      process.execPath,
      ["--import", "tsx", "examples/poll-kickstart/main.ts", "--seconds", "4"],
      { encoding: "utf8", timeout: 20_000 },
    );
    expect(result.status, result.stderr).toBe(0);
    const out = result.stdout;
    expect(out).toMatch(/listening for kicks on udp:\/\/127\.0\.0\.1:\d+/);
    expect(out).toContain("run on kick: 1 row(s)");
    expect(out).toContain("inserted #3, no kick");
    // the row inserted without a kick is picked up by the timer
    expect(out).toMatch(/processed #3 [^\n]*\n[^\n]*run on timer: 1 row\(s\)/);
    expect(out).toContain("heartbeat 3");
    expect(out.trim().split("\n").at(-1)).toMatch(/stopped: socket closed, timers cleared$/);
  });
});
