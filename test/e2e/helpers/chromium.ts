import { type Browser, chromium } from "playwright-core";

/**
 * Starts Debian's Chromium headless, as every browser test here runs it (no
 * browser download: the system's `/usr/bin/chromium`, flags that keep it from
 * reaching the network or needing a sandbox).
 *
 * @example
 * ```ts
 * let browser: Browser;
 * beforeAll(async () => { browser = await launchChromium(); });
 * afterAll(async () => { await browser?.close(); });
 * ```
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}
