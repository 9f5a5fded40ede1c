/**
 * Helpers for the transport tests: a transport whose callbacks record
 * everything, a log that keeps its lines, polling, and raw requests to a
 * peer port (also used by the real-process tests in tests/).
 *
 * @module
 */
import * as net from "node:net";
import { createLogger, type Logger } from "../log.ts";
import { type Message, MessageType, newMessage } from "../raft/types.ts";
import { H2ClientConnection, type H2ClientStream } from "../http/h2/client.ts";
import { formatId, H_CLUSTER_ID, H_ERROR, H_FROM, H_TO } from "./protocol.ts";
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
    // Every test peer counts as a member unless a test says otherwise.
    isMember: () => true,
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

/** What a raw peer request (see {@link rawPeerRequest}) heard back. */
export interface RawPeerCall {
  conn: H2ClientConnection;
  stream: H2ClientStream;
  /** The response headers: status and `x-cairn-error`. */
  response: Promise<{ status: number; error?: string }>;
  /** Why the exchange ended: "end", or the reset/abort reason. */
  ended: Promise<string>;
  /** Closes the connection. */
  close(): void;
}

/**
 * Opens a request on a member's peer port with cairn's own HTTP/2 client,
 * as an attacker (or a test) writes it: any headers, any body bytes after.
 */
export async function rawPeerRequest(
  baseUrl: string,
  path: string,
  headers: [string, string][],
): Promise<RawPeerCall> {
  const u = new URL(baseUrl);
  const conn = await H2ClientConnection.connect(u.hostname, Number(u.port), {
    onClose: () => {},
  });
  const stream = conn.request([
    [":method", "POST"],
    [":scheme", "http"],
    [":authority", u.host],
    [":path", path],
    ...headers,
  ], false);
  let onResponse!: (r: { status: number; error?: string }) => void;
  let onEnded!: (why: string) => void;
  const response = new Promise<{ status: number; error?: string }>((r) => (onResponse = r));
  const ended = new Promise<string>((r) => (onEnded = r));
  stream.listener = {
    response: (status, fields) =>
      onResponse({ status, error: fields.find(([n]) => n === H_ERROR)?.[1] }),
    end: () => onEnded("end"),
    abort: (why) => onEnded(why),
  };
  return { conn, stream, response, ended, close: () => conn.close("test done") };
}

/** The identifying headers of a peer request from `from` to `to` in `cluster`. */
export function peerHeaders(cluster: bigint, from: bigint, to: bigint): [string, string][] {
  return [
    [H_CLUSTER_ID, formatId(cluster)],
    [H_FROM, formatId(from)],
    [H_TO, formatId(to)],
  ];
}
