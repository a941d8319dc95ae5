import { existsSync } from "node:fs";
import { createConnection } from "node:net";
import { run, until } from "effection";
import { describe, expect, it } from "vitest";
import { useRedisServer } from "../../src/testing/redis-server.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

/** Sends raw RESP commands and returns the raw reply text. */
function send(port: number, commands: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host: "127.0.0.1" });
    let reply = "";
    socket.once("error", reject);
    socket.once("connect", () => socket.end(commands));
    socket.on("data", (chunk) => {
      reply += chunk.toString();
    });
    socket.once("close", () => resolve(reply));
  });
}

describe("useRedisServer", () => {
  it("starts redis-server on a free port with appendonly, and removes it at scope end", async () => {
    let dir = "";
    let pid: number | undefined;
    await run(function* () {
      const redis = yield* useRedisServer();
      dir = redis.dir;
      pid = redis.pid;
      expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
      const reply = yield* until(send(redis.port, "PING\r\nCONFIG GET appendonly\r\n"));
      expect(reply).toContain("+PONG");
      expect(reply).toContain("yes");
    });
    expect(existsSync(dir)).toBe(false);
    expect(() => process.kill(pid as number, 0)).toThrow();
  });

  it("keeps acknowledged writes across a SIGKILL and restart on the same port", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      const port = redis.port;
      expect(yield* until(send(port, "SET k v1\r\n"))).toContain("+OK");
      yield* redis.kill("SIGKILL");
      expect(redis.pid).toBeUndefined();
      yield* redis.restart();
      expect(redis.port).toBe(port);
      expect(yield* until(send(port, "GET k\r\n"))).toContain("v1");
    });
  });

  it("fails clearly when the program cannot start", async () => {
    await expect(
      run(function* () {
        yield* useRedisServer({ args: ["--no-such-option", "1"] });
      }),
    ).rejects.toThrow(/redis-server exited/);
  });
});
