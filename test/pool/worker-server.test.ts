import { type ChildProcess, spawn as spawnChild } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "effection";
import { afterAll, describe, expect, it } from "vitest";
import { usePool, useWorkerServer } from "../../src/pool/index.js";
import { isAlive, realWorkerTests } from "../helpers/real-workers.js";
import type echoWorker from "./fixtures/echo-worker.js";
import { eventually, echoWorkerFile as worker } from "./helpers.js";

realWorkerTests({ threads: false });

const dir = mkdtempSync(join(tmpdir(), "bough-forked-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("useWorkerServer", () => {
  it("forks a worker server that remote pools use, and stops it with the scope", async () => {
    const path = join(dir, "forked.sock");
    const { serverPid, who } = await run(function* () {
      const server = yield* useWorkerServer({ listen: { path }, worker });
      const pool = yield* usePool<typeof echoWorker>({ connect: server.address, maxWorkers: 2 });
      const who = yield* pool.run("whoami");
      return { serverPid: server.pid, who };
    });
    expect(who.pid).not.toBe(serverPid);
    expect(isAlive(serverPid)).toBe(false);
    expect(isAlive(who.pid)).toBe(false);
  });

  it("exits when its parent dies (keep-alive)", async () => {
    const path = join(dir, "orphan.sock");
    const parentScript = fileURLToPath(new URL("./fixtures/server-parent.ts", import.meta.url));
    const parent: ChildProcess = spawnChild(
      process.execPath,
      ["--import", "tsx", parentScript, path],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    const exited = new Promise((resolve) => parent.once("exit", resolve));
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = "";
        parent.stdout!.on("data", (chunk) => {
          out += chunk;
          if (out.includes("\n")) resolve(out.split("\n")[0]);
        });
        parent.once("exit", () => reject(new Error(`parent exited early: ${out}`)));
      });
      const { serverPid } = JSON.parse(line);
      expect(isAlive(serverPid)).toBe(true);
      parent.kill("SIGKILL");
      await exited;
      await eventually(() => !isAlive(serverPid), 20_000);
    } finally {
      parent.kill("SIGKILL");
      await exited;
    }
  });
});
