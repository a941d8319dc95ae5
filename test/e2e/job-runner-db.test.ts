import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  killChildrenAfterEach,
  ROOT,
  startScript,
  tempDirEach,
} from "../helpers/child-processes.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { request } from "./fixtures/job-runner/helpers.js";

checkLeaksAfterEach({ timeoutMs: 5000 });

// hooks after each test run last-registered first: the children are killed before their directory goes
const tempDir = tempDirEach("bough-job-runner-");
const track = killChildrenAfterEach();

interface Running {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** Starts main.ts as a user would and waits for its "listening" line. */
async function startMain(args: string[]): Promise<Running> {
  const script = await startScript(track, "examples/job-runner/main.ts", ["--port", "0", ...args], {
    ready: /listening on (http:\/\/\S+)/,
  });
  return { child: script.child, url: script.ready[1], output: script.output };
}

/** Polls a job over HTTP until it has `status`; returns it. */
async function waitForJob(url: string, id: number, status: string): Promise<any> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const job = (await request(`${url}/api/jobs/${id}`)).json();
    if (job.status === status) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} is ${job.status}, not ${status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function kill(running: Running): Promise<void> {
  running.child.kill("SIGKILL");
  await new Promise((r) => running.child.once("exit", r));
}

describe("main.ts with --db", () => {
  it("keeps the history across a crash; jobs running at the crash come back failed", async () => {
    const db = join(tempDir(), "jobs.sqlite");
    const first = await startMain(["--db", db, "--concurrency", "1"]);
    const post = (url: string, body: unknown) =>
      request(`${url}/api/jobs`, { method: "POST", body });
    await post(first.url, { job_type: "fibonacci", params: { count: 10 } });
    await waitForJob(first.url, 1, "completed");
    await post(first.url, { job_type: "countdown", params: { seconds: 60 } });
    await post(first.url, { job_type: "echo", params: { message: "after the crash", delay: 1 } });
    await waitForJob(first.url, 2, "running");
    expect((await request(`${first.url}/api/stats`)).json().queue).toMatchObject({
      running: 1,
      pending: 1,
    });
    await kill(first);

    const second = await startMain(["--db", db, "--concurrency", "1"]);
    expect(second.output()).toContain(`3 jobs from ${db}`);
    const one = (await request(`${second.url}/api/jobs/1`)).json();
    expect(one).toMatchObject({ status: "completed", result: { count: 10, last: 34 } });
    const two = (await request(`${second.url}/api/jobs/2`)).json();
    expect(two).toMatchObject({ status: "failed", error: "interrupted by restart" });
    expect(two.completed_at).not.toBeNull();
    // the pending job runs after the restart
    const three = await waitForJob(second.url, 3, "completed");
    expect(three).toMatchObject({ status: "completed", result: { message: "after the crash" } });
    // new ids continue after the old ones; cleared jobs stay cleared
    expect((await post(second.url, { job_type: "echo", params: { delay: 1 } })).json().id).toBe(4);
    await request(`${second.url}/api/jobs/clear-completed`, { method: "POST" });
    await kill(second);

    const third = await startMain(["--db", db]);
    const left = (await request(`${third.url}/api/jobs`)).json();
    // jobs 1–3 were finished and cleared before the second crash
    expect(left.map((j: any) => j.id).filter((id: number) => id <= 3)).toEqual([]);
    await kill(third);
  });

  it("rejects a bad flag with a clear message", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "examples/job-runner/main.ts", "--concurrency", "0"],
      {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    track(child);
    let output = "";
    child.stderr?.setEncoding("utf8").on("data", (s: string) => (output += s));
    const code = await new Promise((r) => child.once("exit", r));
    expect(code).toBe(2);
    expect(output).toContain('--concurrency must be an integer from 1 to 64, got "0"');
  });
});
