import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "../../..");

/** A child process running an example through tsx, with its output collected. */
export interface ExampleProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves when the output matches `pattern` (rejects after `ms` or on exit). */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code (or signal) once the process is gone. */
  exited(): Promise<number | string>;
  /** Kills the process (if alive) and waits for it. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `npx tsx <file> <args>` from the repository root. */
export function runExample(
  file: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
): ExampleProcess {
  const child = spawn(process.execPath, ["--import", "tsx", file, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  child.stdout?.on("data", (chunk) => (text += chunk));
  child.stderr?.on("data", (chunk) => (text += chunk));
  const exit = once(child, "exit").then(([code, signal]) => (code ?? signal) as number | string);
  return {
    child,
    output: () => text,
    exited: () => exit,
    waitFor(pattern, ms = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => finish(new Error(`timed out waiting for ${pattern}:\n${text}`)),
          ms,
        );
        const check = () => {
          const match = pattern.exec(text);
          if (match) finish(undefined, match);
        };
        const onExit = () => {
          check();
          finish(new Error(`process exited before ${pattern}:\n${text}`));
        };
        function finish(error?: Error, match?: RegExpExecArray) {
          clearTimeout(timer);
          child.stdout?.off("data", check);
          child.stderr?.off("data", check);
          child.off("exit", onExit);
          if (match) resolve(match);
          else reject(error);
        }
        child.stdout?.on("data", check);
        child.stderr?.on("data", check);
        child.once("exit", onExit);
        check();
      });
    },
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        await exit;
      }
    },
  };
}
