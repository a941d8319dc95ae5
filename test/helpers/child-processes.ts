import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach } from "vitest";

/**
 * Makes sure no child process outlives its test: returns `track(child)`, and
 * after each test every tracked child that is still running is killed
 * (SIGKILL) and waited for, so that a failed test leaves no app behind.
 */
export function killChildrenAfterEach(): <C extends ChildProcess>(child: C) => C {
  const children = new Set<ChildProcess>();
  afterEach(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, "exit");
        child.kill("SIGKILL");
        await exited;
      }
    }
    children.clear();
  });
  return (child) => {
    children.add(child);
    return child;
  };
}

/**
 * Gives each test a new temporary directory named `prefix…`, removed with
 * everything in it after the test; returns the function that reads the
 * current test's directory.
 */
export function tempDirEach(prefix: string): () => string {
  let dir: string | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  return () => {
    if (dir === undefined) throw new Error("tempDirEach: no test is running");
    return dir;
  };
}

/** The repository's root: scripts run from there, as a user would run them. */
export const ROOT = resolve(import.meta.dirname, "../..");

/** A script started by {@link startScript}. */
export interface Script {
  child: ChildProcess;
  /** What `ready` matched in its output. */
  ready: RegExpMatchArray;
  /** Its stdout and stderr so far, interleaved as they arrived. */
  output(): string;
  stdout(): string;
  stderr(): string;
  /** Settles when it exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `node --import tsx <file> ...args` from the repository's root (a
 * TypeScript example or fixture, as a user runs it) and resolves once its
 * output matches `ready`; rejects with everything it printed if it exits or
 * `timeoutMs` passes first. Pass `track` from {@link killChildrenAfterEach} so
 * the process cannot outlive the test.
 */
export function startScript(
  track: (child: ChildProcess) => ChildProcess,
  file: string,
  args: string[],
  options: { ready: RegExp; timeoutMs?: number },
): Promise<Script> {
  const child = track(
    spawn(process.execPath, ["--import", "tsx", file, ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  let output = "";
  let stdout = "";
  let stderr = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once("exit", (code, signal) => done({ code, signal })),
  );
  return new Promise<Script>((resolveReady, reject) => {
    const timeoutMs = options.timeoutMs ?? 20_000;
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`${file} ${why}:\n${output}`));
    };
    const timer = setTimeout(
      () => fail(`printed no ${options.ready} within ${timeoutMs} ms`),
      timeoutMs,
    );
    const check = () => {
      if (settled) return;
      const ready = output.match(options.ready);
      if (ready === null) return;
      settled = true;
      clearTimeout(timer);
      resolveReady({
        child,
        ready,
        output: () => output,
        stdout: () => stdout,
        stderr: () => stderr,
        exited,
      });
    };
    child.stdout?.setEncoding("utf8").on("data", (s: string) => {
      output += s;
      stdout += s;
      check();
    });
    child.stderr?.setEncoding("utf8").on("data", (s: string) => {
      output += s;
      stderr += s;
      check();
    });
    void exited.then(({ code, signal }) => fail(`exited (${code ?? signal}) before it was ready`));
  });
}
