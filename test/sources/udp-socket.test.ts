import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { call, each, type Operation, run, scoped, sleep, spawn } from "effection";
import { describe, expect, it } from "vitest";
import { readPanels } from "../../src/core/panels.js";
import { PortInUseError, UdpSocketError } from "../../src/sources/errors.js";
import { ticker } from "../../src/sources/ticker.js";
import { type Datagram, type UdpSocket, useUdpSocket } from "../../src/sources/udp-socket.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

const host = "127.0.0.1";

/** Waits (real time, bounded) until `done()` holds. */
function* until(done: () => boolean, ms = 3_000): Operation<void> {
  for (let waited = 0; !done() && waited < ms; waited += 5) yield* sleep(5);
}

/** Collects every datagram of `udp` into `into`, in a spawned task. */
function* collect(udp: UdpSocket, into: Datagram[]): Operation<void> {
  yield* spawn(function* () {
    for (const datagram of yield* each(udp.messages)) {
      into.push(datagram);
      yield* each.next();
    }
  });
}

describe("useUdpSocket", () => {
  it("asks for a 1 MiB kernel receive buffer unless told otherwise", async () => {
    await run(function* () {
      const udp = yield* useUdpSocket({ host });
      const small = yield* useUdpSocket({ host, recvBufferSize: 64 * 1024 });
      const probe = createSocket("udp4");
      yield* call(() => new Promise<void>((r) => probe.bind(0, host, () => r())));
      const systemDefault = probe.getRecvBufferSize();
      yield* call(() => new Promise<void>((r) => probe.close(() => r())));
      // Linux doubles what is asked and caps it at net.core.rmem_max
      expect(udp.recvBufferSize).toBeGreaterThan(systemDefault);
      expect(small.recvBufferSize).toBeLessThanOrEqual(2 * 64 * 1024);
    });
  });

  it("binds an ephemeral port and receives datagrams with their sender", async () => {
    await run(function* () {
      const udp = yield* useUdpSocket({ host });
      const sender = yield* useUdpSocket({ host });
      expect(udp.address.address).toBe(host);
      expect(udp.address.port).toBeGreaterThan(0);
      const got: Datagram[] = [];
      yield* collect(udp, got);
      yield* sender.send("hello", udp.address.port, host);
      yield* sender.send(new Uint8Array([1, 2, 3]), udp.address.port, host);
      yield* until(() => got.length === 2);
      expect(got.map((d) => d.data.toString("hex"))).toEqual(["68656c6c6f", "010203"]);
      expect(got[0]).toMatchObject({ address: host, port: sender.address.port, family: "IPv4" });
      expect(udp.stats()).toMatchObject({ received: 2, bytes: 8, dropped: 0, queued: 0 });
    });
  });

  it("throws a PortInUseError naming the port when the port is taken", async () => {
    await run(function* () {
      const first = yield* useUdpSocket({ host });
      const port = first.address.port;
      let caught: unknown;
      try {
        yield* useUdpSocket({ host, port });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(PortInUseError);
      const error = caught as PortInUseError;
      expect(error.code).toBe("BOUGH_SOURCES_PORT_IN_USE");
      expect(error.port).toBe(port);
      expect(error.message).toContain(String(port));
    });
  });

  it("throws a UdpSocketError when it cannot bind for another reason", async () => {
    await expect(
      run(() => useUdpSocket({ host: "203.0.113.7" })), // TEST-NET-3: not an address of ours
    ).rejects.toBeInstanceOf(UdpSocketError);
  });

  it("delivers empty, garbage and maximum-size datagrams as bytes", async () => {
    const garbage = randomBytes(1_000);
    const huge = randomBytes(65_507); // the largest IPv4 UDP payload
    await run(function* () {
      const udp = yield* useUdpSocket({ host });
      const sender = yield* useUdpSocket({ host });
      const got: Datagram[] = [];
      yield* collect(udp, got);
      for (const payload of [Buffer.alloc(0), garbage, huge, Buffer.from([0xff, 0xfe, 0x00])]) {
        yield* sender.send(payload, udp.address.port, host);
      }
      yield* until(() => got.length === 4);
      expect(got.map((d) => d.data.length)).toEqual([0, 1_000, 65_507, 3]);
      expect(got[1].data.equals(garbage)).toBe(true);
      expect(got[2].data.equals(huge)).toBe(true);
    });
  });

  it("keeps datagrams that arrive before anyone subscribes for the first subscriber", async () => {
    await run(function* () {
      const udp = yield* useUdpSocket({ host });
      const sender = yield* useUdpSocket({ host });
      for (let i = 0; i < 5; i++) yield* sender.send(`early ${i}`, udp.address.port, host);
      yield* until(() => udp.stats().received === 5);
      expect(udp.stats().queued).toBe(5);
      const messages = yield* udp.messages;
      const texts: string[] = [];
      for (let i = 0; i < 5; i++) texts.push((yield* messages.next()).value.data.toString());
      expect(texts).toEqual(["early 0", "early 1", "early 2", "early 3", "early 4"]);
    });
  });

  it("gives every subscriber every datagram", async () => {
    await run(function* () {
      const udp = yield* useUdpSocket({ host });
      const sender = yield* useUdpSocket({ host });
      const a: Datagram[] = [];
      const b: Datagram[] = [];
      yield* collect(udp, a);
      yield* collect(udp, b);
      yield* sleep(1);
      for (let i = 0; i < 10; i++) yield* sender.send(String(i), udp.address.port, host);
      yield* until(() => a.length === 10 && b.length === 10);
      expect(a.map((d) => d.data.toString())).toEqual(b.map((d) => d.data.toString()));
      expect(a).toHaveLength(10);
    });
  });

  it("bounds a subscriber's queue and counts what it drops", async () => {
    await run(function* () {
      const udp = yield* useUdpSocket({ host, queueLimit: 10 });
      const sender = yield* useUdpSocket({ host });
      const messages = yield* udp.messages; // subscribed, but not reading
      for (let i = 0; i < 25; i++) yield* sender.send(String(i), udp.address.port, host);
      yield* until(() => udp.stats().received === 25);
      expect(udp.stats()).toMatchObject({ received: 25, queued: 10, dropped: 15 });
      // the oldest are kept: the newest were dropped
      expect((yield* messages.next()).value.data.toString()).toBe("0");
    });
  });

  it("shows datagrams received, dropped and queued, and its subscribers, on the inspector's panel", async () => {
    await run(function* () {
      const udp = yield* useUdpSocket({ host, queueLimit: 10 });
      const sender = yield* useUdpSocket({ host });
      yield* udp.messages; // subscribed, but not reading
      for (let i = 0; i < 25; i++) yield* sender.send("abcd", udp.address.port, host);
      yield* until(() => udp.stats().received === 25);
      const name = `udp ${host}:${udp.address.port}`;
      expect(readPanels().find((p) => p.name === name)).toMatchObject({
        kind: "source",
        values: { received: 25, bytes: 100, dropped: 15, queued: 10, subscribers: 1 },
      });
    });
    expect(readPanels().filter((p) => p.name.startsWith("udp "))).toEqual([]);
  });

  it("keeps working for the next subscriber after one is halted while waiting", async () => {
    await run(function* () {
      const udp = yield* useUdpSocket({ host });
      const sender = yield* useUdpSocket({ host });
      const waiting = yield* spawn(function* () {
        const messages = yield* udp.messages;
        yield* messages.next();
        throw new Error("got a datagram it was never sent");
      });
      yield* sleep(1);
      yield* waiting.halt();
      yield* sender.send("after", udp.address.port, host);
      const messages = yield* udp.messages;
      expect((yield* messages.next()).value.data.toString()).toBe("after");
    });
  });

  it("fails a subscription that outlives the socket with a UdpSocketError", async () => {
    let caught: unknown;
    await run(function* () {
      let messages: UdpSocket["messages"] | undefined;
      yield* scoped(function* () {
        messages = (yield* useUdpSocket({ host })).messages;
      });
      try {
        yield* messages!;
      } catch (error) {
        caught = error;
      }
    });
    expect(caught).toBeInstanceOf(UdpSocketError);
    expect((caught as UdpSocketError).message).toContain("closed");
  });

  it("closes the socket when the scope ends", async () => {
    let port = 0;
    await run(function* () {
      const udp = yield* useUdpSocket({ host });
      port = udp.address.port;
    });
    // the port is free again
    const probe = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      probe.once("error", reject);
      probe.bind(port, host, () => resolve());
    });
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });

  it("fails a send to an invalid port with a UdpSocketError", async () => {
    await run(function* () {
      const udp = yield* useUdpSocket({ host });
      let caught: unknown;
      try {
        yield* udp.send("x", 0, host);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(UdpSocketError);
    });
  });

  it("throws a TypeError at call time for invalid options", () => {
    expect(() => useUdpSocket({ port: 70_000 })).toThrow(TypeError);
    expect(() => useUdpSocket({ port: 1.5 })).toThrow(TypeError);
    expect(() => useUdpSocket({ type: "tcp" as never })).toThrow(TypeError);
    expect(() => useUdpSocket({ queueLimit: 0 })).toThrow(TypeError);
  });

  it("receives every datagram of 35 senders × 100 datagrams/s for 3 s (seed 001)", async () => {
    const senders = 35;
    const rounds = 300; // 100 per second for 3 s
    const counts = new Array<number>(senders).fill(0);
    const outOfOrder = new Array<number>(senders).fill(0);
    let stats = { received: 0, dropped: 0 };
    await run(function* () {
      const udp = yield* useUdpSocket({ host });
      const last = new Array<number>(senders).fill(-1);
      yield* spawn(function* () {
        for (const { data } of yield* each(udp.messages)) {
          const sender = data.readUInt16BE(0);
          const seq = data.readUInt32BE(2);
          counts[sender]++;
          if (seq <= last[sender]) outOfOrder[sender]++;
          last[sender] = seq;
          yield* each.next();
        }
      });
      const sockets: UdpSocket[] = [];
      for (let i = 0; i < senders; i++) sockets.push(yield* useUdpSocket({ host }));
      const payload = Buffer.alloc(64);
      const ticks = yield* ticker({ intervalMs: 10, missed: "burst", maxBurst: 1_000 });
      for (let round = 0; round < rounds; round++) {
        yield* ticks.next();
        for (let i = 0; i < senders; i++) {
          payload.writeUInt16BE(i, 0);
          payload.writeUInt32BE(round, 2);
          yield* sockets[i].send(payload, udp.address.port, host);
        }
        // The senders share the receiver's event loop: after a stall of this
        // process, let the receiver read between catch-up rounds, as it could
        // with senders in other processes.
        yield* sleep(0);
      }
      yield* until(() => udp.stats().received >= senders * rounds);
      stats = udp.stats();
    });
    expect(stats).toMatchObject({ received: senders * rounds, dropped: 0 });
    expect(counts).toEqual(new Array(senders).fill(rounds));
    expect(outOfOrder).toEqual(new Array(senders).fill(0));
  });
});
