import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
