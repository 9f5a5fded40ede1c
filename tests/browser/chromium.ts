/**
 * Headless Chromium for the browser tests: Debian's `chromium` driven by
 * playwright-core. `make test` installs the package (the `browser-tools`
 * target) as it installs etcd; without it the browser tests are skipped
 * with a message, as the etcd tests are without etcd.
 */
import { type Browser, chromium, type Page } from "playwright-core";
import { which } from "../harness/tools.ts";

export type { Browser, Page };

/** Where Chromium is: CHROMIUM_BIN, or Debian's /usr/bin/chromium, or on PATH. */
export function chromiumPath(): string | undefined {
  const override = Deno.env.get("CHROMIUM_BIN");
  if (override) return which(override);
  return which("/usr/bin/chromium") ?? which("chromium") ?? which("chromium-browser");
}

/** Logs why the browser tests of `file` cannot run; true when they are to be ignored. */
export function skipIfNoChromium(file: string): boolean {
  if (chromiumPath() !== undefined) return false;
  console.warn(
    `${file}: skipping: chromium not found (install Debian's chromium package, or run \`make test\`)`,
  );
  return true;
}

/** Starts headless Chromium. The caller closes it. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // The tests may run as root in a container, where Chromium's sandbox cannot start.
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
    timeout: 60_000,
  });
}

/** A fresh page (own cookies and storage) with generous timeouts for a loaded machine. */
export async function newPage(
  browser: Browser,
  opts: { viewport?: { width: number; height: number } } = {},
): Promise<Page> {
  const context = await browser.newContext({
    viewport: opts.viewport ?? { width: 1200, height: 800 },
  });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.setDefaultNavigationTimeout(30_000);
  return page;
}

/** Polls `check` every 100 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function waitUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
