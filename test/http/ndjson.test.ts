import { createChannel, ensure, run, sleep, until } from "effection";
import { describe, expect, it } from "vitest";
import { createRouter, ndjson, useServer } from "../../src/http/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { openStream, wait } from "./helpers.js";

checkLeaksAfterEach();

describe("ndjson", () => {
  it("writes one JSON line per item with NDJSON headers", async () => {
    await run(function* () {
      const ticks = createChannel<number, never>();
      const server = yield* useServer({
        handler: createRouter().get("/stream", function* () {
          return ndjson(ticks, { map: (n) => ({ tick: n }), heartbeatMs: 0 });
        }),
      });
      const client = yield* until(openStream(`${server.url}/stream`));
      expect(client.headers["content-type"]).toBe("application/x-ndjson");
      expect(client.headers["cache-control"]).toBe("no-cache, no-transform");
      yield* sleep(5);
      for (let n = 1; n <= 3; n++) yield* ticks.send(n);
      yield* until(client.waitFor((t) => t.endsWith('{"tick":3}\n')));
      expect(client.text).toBe('{"tick":1}\n{"tick":2}\n{"tick":3}\n');
      client.close();
    });
  });

  it("halts the relay when the client disconnects", async () => {
    let relaying = 0;
    await run(function* () {
      const ticks = createChannel<number, never>();
      const server = yield* useServer({
        handler: createRouter().get("/stream", function* () {
          relaying++;
          yield* ensure(() => {
            relaying--;
          });
          return ndjson(ticks, { heartbeatMs: 0 });
        }),
      });
      const a = yield* until(openStream(`${server.url}/stream`));
      const b = yield* until(openStream(`${server.url}/stream`));
      expect(relaying).toBe(2);
      a.close();
      yield* until(wait(30));
      expect(relaying).toBe(1);
      yield* ticks.send(1);
      yield* until(b.waitFor((t) => t === "1\n"));
      b.close();
      yield* until(wait(30));
      expect(relaying).toBe(0);
      expect(server.active).toBe(0);
    });
  });

  it("sends empty-line heartbeats while idle", async () => {
    await run(function* () {
      const ticks = createChannel<number, never>();
      const server = yield* useServer({
        handler: createRouter().get("/stream", function* () {
          return ndjson(ticks, { heartbeatMs: 20 });
        }),
      });
      const client = yield* until(openStream(`${server.url}/stream`));
      yield* until(client.waitFor((t) => t === "\n\n\n", 2000));
      client.close();
    });
  });
});
