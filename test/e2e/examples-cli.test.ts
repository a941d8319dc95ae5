import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ExampleProcess, runExample } from "./helpers/run-example.js";

/** Every command of the examples that behave like tools (job-runner has its own tests). */
const commands = [
  "examples/periodic-events/main.ts",
  "examples/mq-kickstart/main.ts",
  "examples/mq-kickstart/produce.ts",
  "examples/password-hash/main.ts",
  "examples/password-hash/server.ts",
  "examples/password-hash/client.ts",
  "examples/sqlite-checkout/main.ts",
  "examples/poll-kickstart/main.ts",
  "examples/supervised-selector/main.ts",
  "examples/virtual-clock/main.ts",
];

/** Every process a test started; whatever is still running at the end is killed. */
const running = new Set<ExampleProcess>();
function start(file: string, args: string[], env: NodeJS.ProcessEnv = {}): ExampleProcess {
  const app = runExample(file, args, env);
  running.add(app);
  return app;
}
afterAll(async () => {
  await Promise.all([...running].map((app) => app.stop("SIGKILL")));
  running.clear();
});

/** stdout and stderr of a process that must exit by itself. */
async function finish(app: ExampleProcess): Promise<{ code: number | string; lines: string[] }> {
  const code = await app.exited();
  return { code, lines: app.output().trim().split("\n") };
}

describe.concurrent("the examples' command lines", () => {
  it.each(commands)("%s --help prints its usage and exits 0", async (file) => {
    const { code, lines } = await finish(start(file, ["--help"]));
    expect(code).toBe(0);
    expect(lines[0]).toMatch(/^usage: npx tsx examples\//);
    expect(lines.join("\n")).toContain("--help");
  });

  it.each(commands)("%s with an unknown flag prints one line and exits 2", async (file) => {
    const { code, lines } = await finish(start(file, ["--no-such-flag"]));
    expect(code).toBe(2);
    expect(lines).toEqual([
      expect.stringMatching(/: Unknown option '--no-such-flag' \(see --help\)$/),
    ]);
  });
});

describe("a busy port", () => {
  let tcp: Server;
  let udp: UdpSocket;
  let tcpPort: number;
  let udpPort: number;
  beforeAll(async () => {
    tcp = createServer();
    await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve));
    tcpPort = (tcp.address() as { port: number }).port;
    udp = createSocket("udp4");
    await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", resolve));
    udpPort = udp.address().port;
  });
  afterAll(async () => {
    await new Promise((resolve) => tcp.close(resolve));
    await new Promise((resolve) => udp.close(() => resolve(undefined)));
  });

  it("makes periodic-events print one line naming the port and exit 2, alone or as a cluster", async () => {
    const [alone, cluster] = await Promise.all([
      finish(start("examples/periodic-events/main.ts", ["--port", String(tcpPort)])),
      finish(
        start("examples/periodic-events/main.ts", ["--port", String(tcpPort), "--workers", "2"]),
      ),
    ]);
    const line = `periodic-events: port ${tcpPort} is already in use`;
    expect(alone).toEqual({ code: 2, lines: [line] });
    expect(cluster.code).toBe(2);
    expect(cluster.lines.filter((l) => !l.startsWith("warning:"))).toEqual([line]);
  });

  it("makes mq-kickstart print one line naming its HTTP or UDP port and exit 2", async () => {
    const [http, datagrams] = await Promise.all([
      finish(
        start("examples/mq-kickstart/main.ts", [
          ...["--http-port", String(tcpPort), "--udp-port", "0"],
          ...["--db", ":memory:"],
        ]),
      ),
      finish(
        start("examples/mq-kickstart/main.ts", [
          ...["--http-port", "0", "--udp-port", String(udpPort)],
          ...["--db", ":memory:"],
        ]),
      ),
    ]);
    expect(http).toEqual({ code: 2, lines: [`mq-kickstart: port ${tcpPort} is already in use`] });
    expect(datagrams).toEqual({
      code: 2,
      lines: [`mq-kickstart: UDP port ${udpPort} is already in use`],
    });
  });
});

describe("temporary files", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "bough-examples-tmp-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("sqlite-checkout removes its temporary database when it is done", async () => {
    const { code } = await finish(start("examples/sqlite-checkout/main.ts", [], { TMPDIR: dir }));
    expect(code).toBe(0);
    expect(readdirSync(dir).filter((f) => f.startsWith("bough-sqlite-checkout"))).toEqual([]);
  });

  it("mq-kickstart starts its demo database empty and removes it at exit", async () => {
    const env = { TMPDIR: dir };
    const ports = ["--http-port", "0", "--udp-port", "0"];
    const produced = await finish(
      start("examples/mq-kickstart/produce.ts", ["--data", "please fail", "--no-kick"], env),
    );
    expect(produced.code).toBe(0);
    const app = start("examples/mq-kickstart/main.ts", ports, env);
    await app.waitFor(/run #1 \(timer\): 0 handled, 0 failed/);
    expect(app.output()).toMatch(/ready: .*\(fresh demo database\).* · pid \d+/);
    await app.stop("SIGTERM");
    expect(readdirSync(dir).filter((f) => f.startsWith("bough-mq-kickstart"))).toEqual([]);
  });
});

/** True while a process with this pid exists (zombies included). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("periodic-events' cluster primary", () => {
  it("re-forks a worker that dies and, on SIGTERM, exits only after every worker is gone", async () => {
    const app = start("examples/periodic-events/main.ts", ["--port", "0", "--workers", "2"]);
    const workers = () =>
      [...app.output().matchAll(/listening on \S+ \(pid (\d+)/g)].map((m) => Number(m[1]));
    await app.waitFor(/listening on[\s\S]*listening on/);
    const [first] = workers();
    process.kill(first ?? 0, "SIGKILL");
    await app.waitFor(/exited \(SIGKILL\)[\s\S]*listening on/);
    expect(workers()).toHaveLength(3);
    app.child.kill("SIGTERM");
    await app.exited();
    expect(workers().filter(alive)).toEqual([]);
  });
});
