/**
 * The dashboard load row: time to first render of the key browser on a
 * prefix holding 100,000 keys, in headless Chromium against a running
 * member. There is no etcd dashboard to compare with, so the row reports
 * absolute milliseconds.
 *
 * "First render" is the `cairn:keys-rendered` performance mark the page
 * sets once its first page of the prefix tree is on screen; its startTime
 * counts from the start of navigation, so it includes loading the page and
 * its script, starting Connect-Web and the Range calls. Every load runs in
 * a fresh browser context (nothing cached), after one unmeasured warm-up.
 *
 * Run alone: `deno run -A bench/lib/dashboard.ts <client-url>`.
 *
 * @module
 */
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { chromium } from "playwright-core";
import { KV } from "../../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { fromBin, prefixEnd, toBin } from "../../src/ui/app/bytes.ts";

/** What to measure. */
export interface DashboardLoadOptions {
  /** The prefix the keys go under (default "dashbench/"). */
  prefix?: string;
  /** Keys under the prefix (default 100,000). */
  keys?: number;
  /** Bytes per value (default 64). */
  valueBytes?: number;
  /** Measured loads; the median is reported (default 5). */
  loads?: number;
  /** Chromium to drive (default CHROMIUM_BIN, else Debian's /usr/bin/chromium). */
  chromiumPath?: string;
}

/** The row's figures. */
export interface DashboardLoadResult {
  prefix: string;
  /** Keys under the prefix when measured. */
  keys: number;
  /** Keys this call had to write first (0 when they were there already). */
  written: number;
  /** Time to first render of each measured load, ms. */
  samples_ms: number[];
  median_ms: number;
  /** Entries the first page showed (the tree's page size, when the prefix is large). */
  entries_shown: number;
}

/** Puts per Txn: etcd's default --max-txn-ops. */
const TXN_OPS = 128;
/** Txns in flight while loading keys. */
const CONCURRENCY = 16;

/** The i-th key of the row: fixed width, so keys sort as they are numbered. */
function keyName(prefix: string, i: number): string {
  return `${prefix}${String(i).padStart(7, "0")}`;
}

/** Makes sure `count` keys exist under `prefix`; returns how many it wrote. */
export async function loadKeys(
  clientUrl: string,
  prefix: string,
  count: number,
  valueBytes = 64,
): Promise<number> {
  const kv = createClient(KV, createGrpcTransport({ baseUrl: clientUrl }));
  const enc = new TextEncoder();
  const key = enc.encode(prefix);
  const end = fromBin(prefixEnd(toBin(key)));
  const have = await kv.range({ key, rangeEnd: end, countOnly: true });
  if (Number(have.count) >= count) return 0;
  const value = new Uint8Array(valueBytes).fill(0x61);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < count) {
      const from = next;
      next = Math.min(count, next + TXN_OPS);
      const success = [];
      for (let i = from; i < next; i++) {
        success.push({
          request: {
            case: "requestPut" as const,
            value: { key: enc.encode(keyName(prefix, i)), value },
          },
        });
      }
      await kv.txn({ success }, { timeoutMs: 60_000 });
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return count;
}

/** One page load: navigation start -> the key browser's first render, ms. */
async function oneLoad(
  browser: import("playwright-core").Browser,
  url: string,
): Promise<{ ms: number; entries: number }> {
  // The page's CSP forbids eval, which string expressions below need: lift it for the probe.
  const context = await browser.newContext({ bypassCSP: true });
  try {
    const page = await context.newPage();
    await page.goto(url, { timeout: 60_000 });
    // Expressions as strings: this module is type-checked without the DOM library.
    await page.waitForFunction(
      "performance.getEntriesByName('cairn:keys-rendered').length > 0",
      undefined,
      { timeout: 60_000 },
    );
    const ms = await page.evaluate(
      "performance.getEntriesByName('cairn:keys-rendered')[0].startTime",
    ) as number;
    const entries = await page.evaluate(
      "document.querySelectorAll('[data-testid=key-list] li').length",
    ) as number;
    return { ms, entries };
  } finally {
    await context.close();
  }
}

/**
 * Loads the keys (unless present) and measures the key browser's time to
 * first render on their prefix: the median of `loads` cold page loads.
 */
export async function measureDashboardLoad(
  clientUrl: string,
  opts: DashboardLoadOptions = {},
): Promise<DashboardLoadResult> {
  const prefix = opts.prefix ?? "dashbench/";
  const keys = opts.keys ?? 100_000;
  const loads = opts.loads ?? 5;
  const written = await loadKeys(clientUrl, prefix, keys, opts.valueBytes ?? 64);
  const browser = await chromium.launch({
    executablePath: opts.chromiumPath ?? Deno.env.get("CHROMIUM_BIN") ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
    timeout: 60_000,
  });
  try {
    const url = `${clientUrl.replace(/\/$/, "")}/ui/#/keys?p=${encodeURIComponent(prefix)}`;
    await oneLoad(browser, url); // warm-up: the member's and Chromium's first-use costs
    const samples: number[] = [];
    let entries = 0;
    for (let i = 0; i < loads; i++) {
      const r = await oneLoad(browser, url);
      samples.push(Math.round(r.ms * 10) / 10);
      entries = r.entries;
    }
    const sorted = [...samples].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    return {
      prefix,
      keys,
      written,
      samples_ms: samples,
      median_ms: median,
      entries_shown: entries,
    };
  } finally {
    await browser.close();
  }
}

if (import.meta.main) {
  const url = Deno.args[0];
  if (!url) {
    console.error("usage: deno run -A bench/lib/dashboard.ts <client-url> [keys]");
    Deno.exit(2);
  }
  const keys = Deno.args[1] ? Number(Deno.args[1]) : undefined;
  console.log(JSON.stringify(await measureDashboardLoad(url, { keys })));
}
