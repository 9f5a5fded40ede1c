/**
 * Tools for the HTTP/2 attack tests (tests/h2_attack_test.ts): raw sockets
 * that flood a member without reading, a frame reader for what the member
 * sent meanwhile, gRPC request frames built by hand, the member's resident
 * memory, and a check that etcdctl is served while an attack runs. Every
 * flood and every wait is bounded in count and in time.
 *
 * @module
 */
import assert from "node:assert/strict";
import { encodeHeaders, pushInt } from "../../src/http/h2/hpack.ts";
import {
  PREFACE,
  type RawFrame,
  rawFrame,
  readU32,
  settingsPayload,
  T,
} from "../../src/http/h2/test_raw_client.ts";
import { etcdctl } from "./etcdctl.ts";
import type { Member } from "./member.ts";

export const END_STREAM = 0x1;
export const ACK = 0x1;
export const END_HEADERS = 0x4;

/** HTTP/2 error codes the tests expect. */
export const H2 = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  FLOW_CONTROL_ERROR: 3,
  SETTINGS_TIMEOUT: 4,
  REFUSED_STREAM: 7,
  ENHANCE_YOUR_CALM: 11,
} as const;

export const SETTINGS_INITIAL_WINDOW_SIZE = 4;

/** Resident memory of process `pid` in MiB (VmRSS of /proc/<pid>/status). */
export function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}

/** Samples the member's RSS every 50 ms while `fn` runs; returns fn's result and the peak. */
export async function peakRss<R>(m: Member, fn: () => Promise<R>): Promise<[R, number]> {
  let peak = rssMiB(m.pid!);
  const timer = setInterval(() => {
    try {
      if (m.pid !== undefined) peak = Math.max(peak, rssMiB(m.pid));
    } catch { /* exited meanwhile: the caller's checks report it */ }
  }, 50);
  try {
    const r = await fn();
    return [r, Math.max(peak, rssMiB(m.pid!))];
  } finally {
    clearInterval(timer);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs etcdctl put and get of a fresh key; asserts both succeed within their own timeouts. */
export async function assertServes(m: Member, label: string): Promise<void> {
  const key = `attack-${label}-${crypto.randomUUID()}`;
  const put = await etcdctl(m.endpoint, ["put", key, "v"], { timeoutMs: 10_000 });
  assert.equal(put.code, 0, `${label}: put failed: ${put.stderr}`);
  const get = await etcdctl(m.endpoint, ["get", key, "--print-value-only"], { timeoutMs: 10_000 });
  assert.equal(get.code, 0, `${label}: get failed: ${get.stderr}`);
  assert.equal(get.stdout.trim(), "v", label);
}

/**
 * Runs `attack` for `ms`, again and again (each run on new connections),
 * while etcdctl keeps being served; returns what the attack runs returned.
 */
export async function whileServing<R>(
  m: Member,
  label: string,
  ms: number,
  attack: () => Promise<R>,
): Promise<R[]> {
  const deadline = Date.now() + ms;
  const results: R[] = [];
  const attacking = (async () => {
    do results.push(await attack()); while (Date.now() < deadline);
  })();
  // etcdctl during the attack (twice, spread over it), then after it. The
  // attack is always awaited, so a failure never leaves it running.
  const serving = (async () => {
    await assertServes(m, `${label} (during)`);
    await sleep(Math.max(0, Math.min(500, deadline - Date.now())));
    await assertServes(m, `${label} (during, later)`);
  })();
  const [served, attacked] = await Promise.allSettled([serving, attacking]);
  if (attacked.status === "rejected") throw attacked.reason;
  if (served.status === "rejected") throw served.reason;
  await assertServes(m, `${label} (after)`);
  return results;
}

/** Opens a TCP connection to `port` on loopback. */
export function dial(port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port });
}

/** Writes all of `bytes`; rejects when the socket fails. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/**
 * Writes `chunk` again and again without reading anything, until `count`
 * copies went out, `ms` passed, or a write failed (the member closed the
 * connection). Returns how many whole copies went out.
 */
export async function flood(
  conn: Deno.Conn,
  chunk: Uint8Array,
  count: number,
  ms: number,
): Promise<number> {
  const deadline = Date.now() + ms;
  let sent = 0;
  while (sent < count && Date.now() < deadline) {
    const w = writeAll(conn, chunk);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<string>((
      r,
    ) => (timer = setTimeout(() => r("late"), deadline - Date.now())));
    const outcome = await Promise.race([w.then(() => "ok", () => "failed"), late]);
    clearTimeout(timer);
    if (outcome !== "ok") {
      w.catch(() => {}); // a write stuck in a full socket fails once it is closed
      break;
    }
    sent++;
  }
  return sent;
}

/**
 * Reads frames from `conn` until the member closes it or `ms` pass; the
 * first bytes may be the rest of what was sent before (no preface here: it
 * is the member's side). Returns every frame read.
 */
export async function readUntilClosed(conn: Deno.Conn, ms: number): Promise<RawFrame[]> {
  const frames: RawFrame[] = [];
  let buf = new Uint8Array(1 << 20);
  let len = 0;
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    if (buf.length - len < 64 * 1024) {
      const bigger = new Uint8Array(buf.length * 2);
      bigger.set(buf.subarray(0, len));
      buf = bigger;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<null>((r) => (timer = setTimeout(() => r(null), left)));
    let n: number | null;
    try {
      n = await Promise.race([conn.read(buf.subarray(len)), late]);
    } catch {
      n = null; // reset by the member
    } finally {
      clearTimeout(timer);
    }
    if (n === null) break;
    len += n;
    let off = 0;
    while (len - off >= 9) {
      const flen = (buf[off] << 16) | (buf[off + 1] << 8) | buf[off + 2];
      if (len - off < 9 + flen) break;
      // Only GOAWAY, RST_STREAM, HEADERS and SETTINGS payloads are kept (the floods are large).
      const t = buf[off + 3];
      const keep = t === T.GOAWAY || t === T.RST_STREAM || t === T.HEADERS || t === T.SETTINGS ||
        t === T.WINDOW_UPDATE;
      frames.push({
        type: t,
        flags: buf[off + 4],
        streamId: readU32(buf, off + 5) & 0x7fffffff,
        payload: keep ? buf.slice(off + 9, off + 9 + flen) : new Uint8Array(0),
      });
      off += 9 + flen;
    }
    buf.copyWithin(0, off, len);
    len -= off;
  }
  try {
    conn.close();
  } catch { /* closed by the member */ }
  return frames;
}

/** The GOAWAY among `frames`; fails the test when there is none. */
export function goawayOf(frames: RawFrame[], label: string): { code: number; debug: string } {
  const g = frames.find((f) => f.type === T.GOAWAY);
  assert.ok(g, `${label}: the member sent GOAWAY (got ${frames.length} frames)`);
  return {
    code: readU32(g.payload, 4),
    debug: new TextDecoder().decode(g.payload.subarray(8)),
  };
}

/** The client preface with SETTINGS and the ACK of the member's SETTINGS (sent blind). */
export function handshake(settings: Array<[number, number]> = []): Uint8Array {
  return Buffer.concat([
    PREFACE,
    rawFrame(T.SETTINGS, 0, 0, settingsPayload(settings)),
    rawFrame(T.SETTINGS, ACK, 0),
  ]);
}

/** Request headers of a gRPC call to `path`. */
export function grpcRequest(path: string): Uint8Array {
  return encodeHeaders([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "127.0.0.1"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
  ]);
}

/** `message` in gRPC's length-prefixed envelope. */
export function envelope(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return out;
}

/** A WatchRequest creating a watch on `key` (protobuf by hand: create_request { key }). */
export function watchCreate(key: string): Uint8Array {
  const k = new TextEncoder().encode(key);
  return envelope(Uint8Array.from([0x0a, k.length + 2, 0x0a, k.length, ...k]));
}

/** A LeaseKeepAliveRequest for lease `id` (< 128). */
export function leaseKeepAlive(id: number): Uint8Array {
  return envelope(Uint8Array.from([0x08, id]));
}

/** A RangeRequest for `key`. */
export function range(key: string): Uint8Array {
  const k = new TextEncoder().encode(key);
  return envelope(Uint8Array.from([0x0a, k.length, ...k]));
}

/** `n` copies of `part` back to back. */
export function repeat(part: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(part.length * n);
  for (let i = 0; i < n; i++) out.set(part, i * part.length);
  return out;
}

/**
 * HPACK bytes adding a header field `name` with `size` bytes of value to
 * the member's dynamic table (literal with incremental indexing), which
 * then is index 62 until something else is added.
 */
export function indexedLiteral(name: string, size: number): Uint8Array {
  const n = new TextEncoder().encode(name);
  const out = [0x40, n.length, ...n];
  pushInt(out, size, 7, 0);
  return Uint8Array.from([...out, ...new Uint8Array(size).fill(0x61)]);
}
