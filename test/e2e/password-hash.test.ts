import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { type ExampleProcess, runExample } from "./helpers/run-example.js";

checkLeaksAfterEach();

const running: ExampleProcess[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) await p.stop("SIGKILL");
});
const start = (file: string, args: string[] = []) => {
  const p = runExample(file, args);
  running.push(p);
  return p;
};

describe("examples/password-hash", () => {
  it("hashes and verifies through a forked worker server in one command", async () => {
    const app = start("examples/password-hash/main.ts", ["--password", "hunter2"]);
    expect(await app.exited(), app.output()).toBe(0);
    expect(app.output()).toMatch(/Hashed password is \$2b\$10\$[./A-Za-z0-9]{53}/);
    expect(app.output()).toContain("Verify result is 1");
    const pid = Number(/forked worker server pid (\d+)/.exec(app.output())?.[1]);
    expect(() => process.kill(pid, 0)).toThrow(); // the server left with its parent
  });

  it("serves a client that was started a second before the server", async () => {
    const socket = join(tmpdir(), `bough-e2e-hash-${process.pid}.sock`);
    const client = start("examples/password-hash/client.ts", [
      "--socket",
      socket,
      "--timeout",
      "15000",
    ]);
    await new Promise((r) => setTimeout(r, 1000));
    expect(client.output()).not.toContain("Hashed");
    const server = start("examples/password-hash/server.ts", ["--socket", socket]);
    await server.waitFor(/worker server listening/);
    expect(await client.exited()).toBe(0);
    expect(client.output()).toContain("Verify result is 1");
    await server.stop("SIGTERM");
    expect(existsSync(socket)).toBe(false);
  });
});
