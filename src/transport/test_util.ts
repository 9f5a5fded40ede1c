/**
 * Helpers for the transport tests: a transport whose callbacks record
 * everything, a log that keeps its lines, and polling.
 *
 * @module
 */
import * as net from "node:net";
import { createLogger, type Logger } from "../log.ts";
import { type Message, MessageType, newMessage } from "../raft/types.ts";
import { Transport, type TransportOptions } from "./transport.ts";

/** A transport plus everything its callbacks were told. */
export interface Harness {
  t: Transport;
  id: bigint;
  url: string;
  received: Message[];
  /** Sizes of the batches handed to onMessages, in order. */
  batches: number[];
  snapshots: Message[];
  unreachable: bigint[];
  snapshotStatus: [bigint, boolean][];
  logs: string[];
}

/** A logger that keeps its lines in `into` (warn and above unless `level` says otherwise). */
export function memoryLog(into: string[], level: "debug" | "info" | "warn" = "warn"): Logger {
  // CAIRN_TEST_LOG=1 echoes every line to stderr, for debugging a test.
  const echo = Deno.env.get("CAIRN_TEST_LOG") === "1";
  return createLogger(echo ? "debug" : level, {
    writer: (line) => {
      into.push(line);
      if (echo) console.error(line.trimEnd());
    },
  });
}

/** Starts a recording transport on 127.0.0.1 (`port` 0 picks one). */
export async function startHarness(
  id: bigint,
  opts: { clusterId?: bigint; port?: number } & Partial<TransportOptions> = {},
): Promise<Harness> {
  const logs: string[] = [];
  const h = {
    id,
    received: [],
    batches: [],
    snapshots: [],
    unreachable: [],
    snapshotStatus: [],
    logs,
  } as unknown as Harness;
  h.t = await Transport.start({
    selfId: id,
    clusterId: opts.clusterId ?? 0xc1057e7n,
    listenUrls: [new URL(`http://127.0.0.1:${opts.port ?? 0}`)],
    log: memoryLog(logs),
    onMessages: (msgs) => {
      h.batches.push(msgs.length);
      h.received.push(...msgs);
    },
    onSnapshot: (m) => h.snapshots.push(m),
    onUnreachable: (p) => h.unreachable.push(p),
    onSnapshotStatus: (p, ok) => h.snapshotStatus.push([p, ok]),
    ...opts,
  });
  h.url = `http://127.0.0.1:${h.t.addresses[0].port}`;
  return h;
}

/** Makes every harness a peer of every other. */
export function mesh(hs: Harness[]): void {
  for (const a of hs) for (const b of hs) if (a !== b) a.t.setPeer(b.id, [b.url]);
}

/** Polls `cond` every few milliseconds; throws after `ms`. */
export async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** An append message from `from` to `to` numbered `n` (index), carrying `size` bytes. */
export function app(from: bigint, to: bigint, n: number, size = 16): Message {
  return newMessage({
    type: MessageType.App,
    from,
    to,
    term: 1,
    index: n,
    entries: [{ term: 1, index: n + 1, type: 0, data: new Uint8Array(size).fill(n & 0xff) }],
  });
}

/** A port that was free a moment ago (for a peer that comes up later). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
