/**
 * Many HTTP/2 requests at once over one raw connection, for the fuzzers:
 * the request bytes are exactly what the fuzzer chose (the HPACK block is
 * encoded here, as plain literals, not by cairn's encoder), and every wait
 * is bounded. A request the server neither answers nor resets in time is
 * reported, since a member that stops answering is as broken as one that
 * crashed.
 *
 * @module
 */
import {
  PREFACE,
  RawClient,
  type RawFrame,
  rawFrame,
  readU32,
  settingsPayload,
  T,
  u32,
} from "../../src/http/h2/test_raw_client.ts";

const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const MAX_FRAME = 16_384;
const MAX_WINDOW = 2 ** 31 - 1;
const KEEP_DATA = 1 << 20;

/** A 7-bit-or-less prefixed HPACK integer (RFC 7541 §5.1). */
function hpackInt(out: number[], value: number, prefixBits: number, high: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(high | value);
    return;
  }
  out.push(high | max);
  value -= max;
  while (value >= 128) {
    out.push((value % 128) | 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

/**
 * An HPACK block of literal fields without indexing and without Huffman
 * coding: it leaves the dynamic table alone, so every block stands on its
 * own whatever came before (RFC 7541 §6.2.2).
 */
export function hpackLiterals(fields: readonly (readonly [string, string])[]): Uint8Array {
  const out: number[] = [];
  const enc = new TextEncoder();
  for (const [name, value] of fields) {
    out.push(0x00);
    for (const s of [name, value]) {
      const b = enc.encode(s);
      hpackInt(out, b.length, 7, 0);
      for (const x of b) out.push(x);
    }
  }
  return Uint8Array.from(out);
}

/** One request to send. */
export interface H2Call {
  /** Request header fields, pseudo-headers first, exactly as sent. */
  headers: [string, string][];
  /** DATA payloads (each cut into frames of at most 16 KiB). */
  body: Uint8Array[];
  /** Whether the request ends (END_STREAM) after its body. */
  end: boolean;
  /** A streaming call the server keeps open: reset once the others are done. */
  streaming: boolean;
}

/** What became of one request. */
export interface H2Outcome {
  /** Decoded response header blocks (headers, then trailers). */
  blocks: Map<string, string>[];
  /** Response DATA bytes received (kept up to 1 MiB, counted beyond). */
  dataBytes: number;
  /** The first response DATA bytes (up to 1 MiB). */
  data: Uint8Array;
  /** The server ended the stream. */
  ended: boolean;
  /** RST_STREAM code from the server, if it reset the stream. */
  reset?: number;
  /** Set when the connection ended (GOAWAY or close) before the stream did. */
  lost?: string;
}

/** What became of a batch of requests. */
export interface H2BatchResult {
  outcomes: H2Outcome[];
  /** The server's GOAWAY, if it sent one. */
  goaway?: { lastStreamId: number; code: number };
  /** Indexes of the calls that got no end, reset or connection loss in time. */
  unanswered: number[];
}

/** The last value of `name` in the outcome's header blocks. */
export function header(o: H2Outcome, name: string): string | undefined {
  let v: string | undefined;
  for (const b of o.blocks) v = b.get(name) ?? v;
  return v;
}

/**
 * Opens a connection, sends every call on its own stream, and waits up to
 * `timeoutMs` for each non-streaming call to end; streaming calls get
 * `streamGraceMs` after that and are then reset. Calls must fit the
 * server's default windows (the fuzzers keep bodies small).
 */
export async function callBatch(
  port: number,
  calls: H2Call[],
  timeoutMs = 10_000,
  streamGraceMs = 150,
): Promise<H2BatchResult> {
  const client = await RawClient.connect(port);
  const outcomes: H2Outcome[] = calls.map(() => ({
    blocks: [],
    dataBytes: 0,
    data: new Uint8Array(0),
    ended: false,
  }));
  let goaway: H2BatchResult["goaway"];
  try {
    // Big receive windows: the fuzzer never wants the server to wait for it.
    await client.write(
      PREFACE,
      rawFrame(T.SETTINGS, 0, 0, settingsPayload([[4, MAX_WINDOW]])),
      rawFrame(T.WINDOW_UPDATE, 0, 0, u32(MAX_WINDOW - 65_535)),
    );
    const out: Uint8Array[] = [];
    calls.forEach((call, i) => {
      const id = 1 + 2 * i;
      const block = hpackLiterals(call.headers);
      const chunks: Uint8Array[] = [];
      for (const payload of call.body) {
        for (let p = 0; p < payload.length || (p === 0 && payload.length === 0); p += MAX_FRAME) {
          chunks.push(payload.subarray(p, p + MAX_FRAME));
          if (payload.length === 0) break;
        }
      }
      const headersEnd = call.end && chunks.length === 0 ? END_STREAM : 0;
      out.push(rawFrame(T.HEADERS, END_HEADERS | headersEnd, id, block));
      chunks.forEach((c, k) => {
        const last = k === chunks.length - 1;
        out.push(rawFrame(T.DATA, last && call.end ? END_STREAM : 0, id, c));
      });
    });
    await client.write(...out).catch(() => {}); // a refusal mid-write shows up below

    const index = (streamId: number) => (streamId - 1) / 2;
    const open = (i: number) =>
      !outcomes[i].ended && outcomes[i].reset === undefined && outcomes[i].lost === undefined;
    const waiting = () => calls.some((c, i) => !c.streaming && open(i));
    let closed = false;
    const handle = async (f: RawFrame) => {
      if (f.streamId === 0) {
        if (f.type === T.SETTINGS && !(f.flags & ACK)) {
          await client.write(rawFrame(T.SETTINGS, ACK, 0)).catch(() => {});
        } else if (f.type === T.PING && !(f.flags & ACK)) {
          await client.write(rawFrame(T.PING, ACK, 0, f.payload)).catch(() => {});
        } else if (f.type === T.GOAWAY) {
          goaway = { lastStreamId: readU32(f.payload) & 0x7fffffff, code: readU32(f.payload, 4) };
          for (let i = 0; i < calls.length; i++) {
            if (1 + 2 * i > goaway.lastStreamId && open(i)) outcomes[i].lost = "GOAWAY";
          }
        }
        return;
      }
      const i = index(f.streamId);
      if (!Number.isInteger(i) || i < 0 || i >= calls.length) return;
      const o = outcomes[i];
      if (f.type === T.HEADERS) o.blocks.push(client.headers(f));
      else if (f.type === T.DATA) {
        o.dataBytes += f.payload.length;
        if (o.data.length < KEEP_DATA) {
          const joined = new Uint8Array(o.data.length + f.payload.length);
          joined.set(o.data);
          joined.set(f.payload, o.data.length);
          o.data = joined;
        }
      } else if (f.type === T.RST_STREAM) o.reset = readU32(f.payload);
      if ((f.type === T.HEADERS || f.type === T.DATA) && f.flags & END_STREAM) o.ended = true;
    };
    const deadline = Date.now() + timeoutMs;
    while (!closed && waiting() && Date.now() < deadline) {
      let f: RawFrame | null;
      try {
        f = await client.next(Math.max(1, deadline - Date.now()));
      } catch {
        break; // timed out
      }
      if (f === null) closed = true;
      else await handle(f);
    }
    const grace = Date.now() + streamGraceMs;
    while (!closed && Date.now() < grace && calls.some((c, i) => c.streaming && open(i))) {
      try {
        const f = await client.next(Math.max(1, grace - Date.now()));
        if (f === null) closed = true;
        else await handle(f);
      } catch {
        break;
      }
    }
    if (closed) {
      for (let i = 0; i < calls.length; i++) if (open(i)) outcomes[i].lost = "connection closed";
    }
    const unanswered = calls.flatMap((c, i) => (!c.streaming && open(i) ? [i] : []));
    return { outcomes, goaway, unanswered };
  } finally {
    await client.close();
  }
}
