import { afterEach, beforeEach } from "vitest";
import { expectNoLeaks } from "../../src/testing/expect-no-leaks.js";

/** Registers a leak check around every test of the calling file. */
export function checkLeaksAfterEach(options?: Parameters<typeof expectNoLeaks>[0]): void {
  let check: () => Promise<void>;
  beforeEach(() => {
    check = expectNoLeaks(options);
  });
  afterEach(async () => {
    await check();
  });
}
