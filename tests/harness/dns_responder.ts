/**
 * A tiny authoritative DNS server over UDP (RFC 1035 wire format), for tests
 * that need the system resolver to find records the test chose: SRV, A and
 * AAAA answers from a table the test may change while it runs.
 *
 * It answers only what it is asked about: a name in the table gets its
 * records of the asked type (or an empty NOERROR answer), any other name
 * NXDOMAIN. Names compare case-insensitively, without the trailing dot.
 * Query sections it does not need (EDNS options) are ignored; answers carry
 * no EDNS record, which resolvers accept from servers without EDNS.
 */
import dgram from "node:dgram";

/** One SRV answer (RFC 2782). */
export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  /** Host name of the target, without the trailing dot. */
  target: string;
}

/** The records served, by owner name (no trailing dot). */
export interface DnsTable {
  srv: Map<string, SrvRecord[]>;
  /** IPv4 (A) and IPv6 (AAAA) addresses. */
  addrs: Map<string, string[]>;
}

const TYPE_A = 1;
const TYPE_AAAA = 28;
const TYPE_SRV = 33;
const CLASS_IN = 1;
const RCODE_FORMERR = 1;
const RCODE_NXDOMAIN = 3;
const RCODE_NOTIMP = 4;

/** A question read from a query. */
interface Question {
  name: string;
  type: number;
  /** The question section as received, echoed back in the answer. */
  raw: Uint8Array;
}

/** Reads the single question of a query; undefined if malformed. */
function readQuestion(msg: Uint8Array): Question | undefined {
  if (msg.length < 12) return undefined;
  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  if (view.getUint16(4) !== 1) return undefined;
  const labels: string[] = [];
  let off = 12;
  for (;;) {
    if (off >= msg.length) return undefined;
    const len = msg[off];
    // Queries carry one question, so there is nothing to point back to.
    if (len > 63) return undefined;
    off += 1;
    if (len === 0) break;
    if (off + len > msg.length) return undefined;
    labels.push(new TextDecoder().decode(msg.subarray(off, off + len)));
    off += len;
  }
  if (off + 4 > msg.length) return undefined;
  const type = view.getUint16(off);
  return { name: labels.join(".").toLowerCase(), type, raw: msg.subarray(12, off + 4) };
}

/** Encodes a host name as uncompressed labels. */
function encodeName(name: string): number[] {
  const out: number[] = [];
  for (const label of name.replace(/\.$/, "").split(".")) {
    if (label === "") continue;
    const bytes = new TextEncoder().encode(label);
    out.push(bytes.length, ...bytes);
  }
  out.push(0);
  return out;
}

function u16(n: number): number[] {
  return [(n >> 8) & 0xff, n & 0xff];
}

function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

function ipv4Bytes(addr: string): number[] | undefined {
  const parts = addr.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    return undefined;
  }
  return parts;
}

function ipv6Bytes(addr: string): number[] | undefined {
  if (!addr.includes(":")) return undefined;
  const [head, tail = ""] = addr.split("::");
  const groups = (s: string) => (s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)));
  const h = groups(head);
  const t = addr.includes("::") ? groups(tail) : [];
  const fill = 8 - h.length - t.length;
  if (fill < 0 || (!addr.includes("::") && fill !== 0)) return undefined;
  return [...h, ...new Array(fill).fill(0), ...t].flatMap((g) => u16(g));
}

/** The resource records answering `q` from `table`, or undefined for NXDOMAIN. */
function answers(q: Question, table: DnsTable): number[][] | undefined {
  const srv = table.srv.get(q.name);
  const addrs = table.addrs.get(q.name);
  if (srv === undefined && addrs === undefined) return undefined;
  const rrs: number[][] = [];
  // Every answer names the question's owner through a pointer to offset 12.
  const rr = (type: number, rdata: number[]) => [
    0xc0,
    0x0c,
    ...u16(type),
    ...u16(CLASS_IN),
    ...u32(5),
    ...u16(rdata.length),
    ...rdata,
  ];
  if (q.type === TYPE_SRV) {
    for (const s of srv ?? []) {
      rrs.push(rr(TYPE_SRV, [
        ...u16(s.priority),
        ...u16(s.weight),
        ...u16(s.port),
        ...encodeName(s.target),
      ]));
    }
  } else if (q.type === TYPE_A || q.type === TYPE_AAAA) {
    for (const a of addrs ?? []) {
      const bytes = q.type === TYPE_A ? ipv4Bytes(a) : ipv6Bytes(a);
      if (bytes) rrs.push(rr(q.type, bytes));
    }
  }
  return rrs;
}

/** Builds the response to one query datagram. */
function respond(msg: Uint8Array, table: DnsTable): { reply: Uint8Array; question?: Question } {
  const id = msg.length >= 2 ? [msg[0], msg[1]] : [0, 0];
  const flagsIn = msg.length >= 4 ? (msg[2] << 8) | msg[3] : 0;
  const opcode = (flagsIn >> 11) & 0xf;
  const rd = flagsIn & 0x0100;
  const q = readQuestion(msg);
  const header = (rcode: number, qd: number, an: number) => [
    ...id,
    ...u16(0x8000 | (opcode << 11) | 0x0400 | rd | 0x0080 | rcode),
    ...u16(qd),
    ...u16(an),
    ...u16(0),
    ...u16(0),
  ];
  if (!q) return { reply: new Uint8Array(header(RCODE_FORMERR, 0, 0)) };
  if (opcode !== 0) {
    return { reply: new Uint8Array([...header(RCODE_NOTIMP, 1, 0), ...q.raw]), question: q };
  }
  const rrs = answers(q, table);
  const rcode = rrs === undefined ? RCODE_NXDOMAIN : 0;
  const body = [...header(rcode, 1, rrs?.length ?? 0), ...q.raw, ...(rrs ?? []).flat()];
  return { reply: new Uint8Array(body), question: q };
}

/** A running responder; see the module comment. */
export class DnsResponder {
  /** The records served; tests may change them at any time. */
  readonly table: DnsTable;
  /** Every question answered so far, as `TYPE name` (e.g. `SRV _etcd-server._tcp.x`). */
  readonly log: string[] = [];
  readonly #sockets: dgram.Socket[];

  private constructor(table: DnsTable, sockets: dgram.Socket[]) {
    this.table = table;
    this.#sockets = sockets;
  }

  /** Listens on UDP `port` of every address in `hosts`. */
  static async start(hosts: string[], port: number, table: DnsTable): Promise<DnsResponder> {
    const sockets: dgram.Socket[] = [];
    const responder = new DnsResponder(table, sockets);
    try {
      for (const host of hosts) {
        const sock = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
        sockets.push(sock);
        sock.on("message", (msg, rinfo) => {
          const { reply, question } = respond(new Uint8Array(msg), responder.table);
          if (question) responder.log.push(`${typeName(question.type)} ${question.name}`);
          sock.send(reply, rinfo.port, rinfo.address);
        });
        await new Promise<void>((resolve, reject) => {
          sock.once("error", reject);
          sock.bind(port, host, () => {
            sock.off("error", reject);
            resolve();
          });
        });
      }
    } catch (err) {
      responder.close();
      throw err;
    }
    return responder;
  }

  /** The port a socket is bound to (useful with port 0). */
  port(): number {
    return this.#sockets[0].address().port;
  }

  /** Stops answering. */
  close(): void {
    for (const s of this.#sockets) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
  }
}

function typeName(type: number): string {
  if (type === TYPE_A) return "A";
  if (type === TYPE_AAAA) return "AAAA";
  if (type === TYPE_SRV) return "SRV";
  return `TYPE${type}`;
}
