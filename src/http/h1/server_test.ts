import assert from "node:assert/strict";
import { DenoStreamConn } from "../net.ts";
import { type Http1Handler, type Http1Response, MAX_HEAD_BYTES, serveHttp1 } from "./server.ts";
import { DeadlineSweep } from "./deadlines.ts";
import { findHeadEnd, HeadError, parseHead } from "./head.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Serves `handler` on a loopback port while `fn` runs; `fn` gets the port. */
async function withServer(handler: Http1Handler, fn: (port: number) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<DenoStreamConn>();
  const served: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const c of listener) {
      const conn = new DenoStreamConn(c);
      conns.add(conn);
      served.push(serveHttp1(conn, new Uint8Array(0), handler).finally(() => conn.close()));
    }
  })();
  try {
    await fn(listener.addr.port);
  } finally {
    listener.close();
    for (const c of conns) c.close();
    await accepting.catch(() => {});
    await Promise.allSettled(served);
  }
}

/** A raw client connection that reads responses off the wire. */
class Raw {
  #buf = "";
  private constructor(readonly conn: Deno.TcpConn) {}

  static async open(port: number): Promise<Raw> {
    return new Raw(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  async send(text: string | Uint8Array): Promise<void> {
    const bytes = typeof text === "string" ? enc.encode(text) : text;
    let off = 0;
    while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
  }

  async #more(): Promise<boolean> {
    const b = new Uint8Array(65536);
    const n = await withTimeout(this.conn.read(b), 5000);
    if (n === null) return false;
    this.#buf += dec.decode(b.subarray(0, n));
    return true;
  }

  /** Reads one response (Content-Length, chunked, or until close); `head`: an answer to HEAD. */
  async response(head = false): Promise<
    { status: number; headers: Map<string, string>; body: string; trailers: Map<string, string> }
  > {
    while (this.#buf.indexOf("\r\n\r\n") < 0) {
      if (!(await this.#more())) throw new Error("closed before a response head");
    }
    const end = this.#buf.indexOf("\r\n\r\n");
    const lines = this.#buf.slice(0, end).split("\r\n");
    this.#buf = this.#buf.slice(end + 4);
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      headers.set(l.slice(0, i).toLowerCase(), l.slice(i + 1).trim());
    }
    const status = Number(lines[0].split(" ")[1]);
    const trailers = new Map<string, string>();
    let body = "";
    if (head) {
      // No body, whatever the fields say.
    } else if (headers.has("content-length")) {
      const n = Number(headers.get("content-length"));
      while (this.#buf.length < n) if (!(await this.#more())) break;
      body = this.#buf.slice(0, n);
      this.#buf = this.#buf.slice(n);
    } else if (headers.get("transfer-encoding") === "chunked") {
      for (;;) {
        while (this.#buf.indexOf("\r\n") < 0) await this.#more();
        const size = parseInt(this.#buf.slice(0, this.#buf.indexOf("\r\n")), 16);
        this.#buf = this.#buf.slice(this.#buf.indexOf("\r\n") + 2);
        if (size === 0) {
          while (this.#buf.indexOf("\r\n") < 0) await this.#more();
          while (!this.#buf.startsWith("\r\n")) {
            const nl = this.#buf.indexOf("\r\n");
            const l = this.#buf.slice(0, nl);
            trailers.set(
              l.slice(0, l.indexOf(":")).toLowerCase(),
              l.slice(l.indexOf(":") + 1).trim(),
            );
            this.#buf = this.#buf.slice(nl + 2);
            while (this.#buf.indexOf("\r\n") < 0) await this.#more();
          }
          this.#buf = this.#buf.slice(2);
          break;
        }
        while (this.#buf.length < size + 2) await this.#more();
        body += this.#buf.slice(0, size);
        this.#buf = this.#buf.slice(size + 2);
      }
    } else if (status >= 200 && status !== 204 && status !== 304) {
      while (await this.#more()) { /* until close */ }
      body = this.#buf;
      this.#buf = "";
    }
    return { status, headers, body, trailers };
  }

  /** True once the server closed the connection (within 5 s). */
  async closed(): Promise<boolean> {
    try {
      while (await this.#more()) { /* drain */ }
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) =>
      t = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms)
    ),
  ]).finally(() => clearTimeout(t));
}

/** A handler that answers with the method, target and body it got. */
const echo: Http1Handler = async (req) => {
  let body = "";
  for await (const piece of req.body) body += dec.decode(piece);
  return {
    status: 200,
    header: [["content-type", "text/plain"], ["x-target", req.target]],
    body: enc.encode(`${req.method} ${body}`),
  };
};

Deno.test("h1: keep-alive serves several requests on one connection, with Content-Length", async () => {
  await withServer(echo, async (port) => {
    const c = await Raw.open(port);
    try {
      for (let i = 0; i < 3; i++) {
        await c.send(`POST /a?i=${i} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello`);
        const r = await c.response();
        assert.equal(r.status, 200);
        assert.equal(r.body, "POST hello");
        assert.equal(r.headers.get("content-length"), "10");
        assert.equal(r.headers.get("x-target"), `/a?i=${i}`);
        assert.ok(r.headers.has("date"));
      }
    } finally {
      c.close();
    }
  });
});

Deno.test("h1: pipelined requests are answered in order", async () => {
  await withServer(echo, async (port) => {
    const c = await Raw.open(port);
    try {
      let text = "";
      for (let i = 0; i < 5; i++) {
        text += `POST /${i} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n${i}`;
      }
      await c.send(text);
      for (let i = 0; i < 5; i++) {
        const r = await c.response();
        assert.equal(r.headers.get("x-target"), `/${i}`);
        assert.equal(r.body, `POST ${i}`);
      }
    } finally {
      c.close();
    }
  });
});

Deno.test("h1: chunked request bodies (with extensions and trailers) are decoded", async () => {
  await withServer(echo, async (port) => {
    const c = await Raw.open(port);
    try {
      await c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
      await c.send("3;ext=1\r\nabc\r\n");
      await c.send("a\r\n0123456789\r\n0\r\nx-t: 1\r\n\r\n");
      const r = await c.response();
      assert.equal(r.body, "POST abc0123456789");
      // The connection is still usable afterwards.
      await c.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.equal((await c.response()).headers.get("x-target"), "/next");
    } finally {
      c.close();
    }
  });
});

Deno.test("h1: bad chunk framing closes the connection", async () => {
  await withServer(echo, async (port) => {
    const c = await Raw.open(port);
    try {
      await c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
      const r = await c.response();
      assert.equal(r.status, 500, "the handler's body read failed");
      assert.ok(await c.closed());
    } finally {
      c.close();
    }
  });
});

Deno.test("h1: a streamed answer goes out chunked, piece by piece, with trailers", async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => release = r);
  const handler: Http1Handler = () => ({
    status: 200,
    header: [["content-type", "application/x-ndjson"]],
    body: (async function* () {
      yield enc.encode("one\n");
      await gate;
      yield enc.encode("two\n");
    })(),
    trailer: new Headers({ "grpc-status": "0" }),
  });
  await withServer(handler, async (port) => {
    const c = await Raw.open(port);
    try {
      await c.send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
      // The first piece is readable before the second exists.
      const b = new Uint8Array(4096);
      const n = await withTimeout(c.conn.read(b), 5000);
      const first = dec.decode(b.subarray(0, n!));
      assert.match(first, /transfer-encoding: chunked/);
      assert.match(first, /\r\n4\r\none\n\r\n$/);
      release();
      let rest = "";
      while (!rest.endsWith("\r\n\r\n")) {
        const m = await withTimeout(c.conn.read(b), 5000);
        rest += dec.decode(b.subarray(0, m!));
      }
      assert.equal(rest, "4\r\ntwo\n\r\n0\r\ngrpc-status: 0\r\n\r\n");
    } finally {
      c.close();
    }
  });
});

Deno.test("h1: a body that ends at once gets a Content-Length even as an iterable", async () => {
  const handler: Http1Handler = () => ({
    status: 200,
    body: (async function* () {
      yield enc.encode("whole");
    })(),
  });
  await withServer(handler, async (port) => {
    const c = await Raw.open(port);
    try {
      await c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      const r = await c.response();
      assert.equal(r.headers.get("content-length"), "5");
      assert.equal(r.headers.has("transfer-encoding"), false);
      assert.equal(r.body, "whole");
    } finally {
      c.close();
    }
  });
});

Deno.test("h1: Expect 100-continue gets 100 Continue once the body is read", async () => {
  await withServer(echo, async (port) => {
    const c = await Raw.open(port);
    try {
      await c.send(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
      );
      const interim = await c.response();
      assert.equal(interim.status, 100);
      await c.send("abc");
      const r = await c.response();
      assert.equal(r.body, "POST abc");
    } finally {
      c.close();
    }
  });
});

Deno.test("h1: HEAD answers have the length but no body; 204 has neither", async () => {
  const handler: Http1Handler = (req) =>
    req.target === "/nc"
      ? { status: 204 }
      : { status: 200, body: enc.encode("0123456789") } satisfies Http1Response;
  await withServer(handler, async (port) => {
    const c = await Raw.open(port);
    try {
      await c.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /nc HTTP/1.1\r\nHost: x\r\n\r\n");
      const head = await c.response(true);
      assert.equal(head.headers.get("content-length"), "10");
      // Parsed as a body-less answer: the next response follows at once.
      const r = await c.response();
      assert.equal(r.status, 204);
      assert.equal(r.headers.has("content-length"), false);
    } finally {
      c.close();
    }
  });
});

Deno.test("h1: Connection: close and HTTP/1.0 end the connection after the answer", async () => {
  await withServer(echo, async (port) => {
    for (
      const req of [
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
      ]
    ) {
      const c = await Raw.open(port);
      try {
        await c.send(req);
        const r = await c.response();
        assert.equal(r.status, 200);
        assert.equal(r.headers.get("connection"), "close");
        assert.ok(await c.closed());
      } finally {
        c.close();
      }
    }
  });
});

Deno.test("h1: malformed and smuggling-prone heads are refused with Go's statuses", async () => {
  const cases: Array<[string, number]> = [
    ["GARBAGE\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\n\r\n", 400], // no Host
    ["GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400],
    ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400],
    ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400],
    ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400],
    ["POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501],
    ["GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n", 400],
    ["GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505],
    ["GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", 417],
  ];
  await withServer(echo, async (port) => {
    for (const [text, status] of cases) {
      const c = await Raw.open(port);
      try {
        await c.send(text);
        const r = await c.response();
        assert.equal(r.status, status, JSON.stringify(text));
        assert.ok(await c.closed(), JSON.stringify(text));
      } finally {
        c.close();
      }
    }
  });
});

Deno.test("h1: a head past the bound gets 431 and the connection closes", async () => {
  let called = false;
  await withServer(() => {
    called = true;
    return { status: 200 };
  }, async (port) => {
    const c = await Raw.open(port);
    try {
      await c.send(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(MAX_HEAD_BYTES)}`);
      const r = await c.response();
      assert.equal(r.status, 431);
      assert.ok(await c.closed());
      assert.equal(called, false);
    } finally {
      c.close();
    }
  });
});

Deno.test("h1: the client leaving aborts the request's signal", async () => {
  let aborted!: () => void;
  const seen = new Promise<void>((r) => aborted = r);
  const handler: Http1Handler = (req) =>
    new Promise((resolve) => {
      req.signal.addEventListener("abort", () => {
        aborted();
        resolve({ status: 499 });
      });
    });
  await withServer(handler, async (port) => {
    const c = await Raw.open(port);
    await c.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise((r) => setTimeout(r, 50));
    c.close();
    await withTimeout(seen, 5000);
  });
});

Deno.test("h1: an unread body is dropped to keep the connection, a large one closes it", async () => {
  const ignoring: Http1Handler = () => ({ status: 200, body: enc.encode("ok") });
  await withServer(ignoring, async (port) => {
    const c = await Raw.open(port);
    try {
      await c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd");
      assert.equal((await c.response()).body, "ok");
      await c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.equal((await c.response()).body, "ok");
      await c.send(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${1 << 20}\r\n\r\n`);
      assert.equal((await c.response()).body, "ok");
      assert.ok(await c.closed());
    } finally {
      c.close();
    }
  });
});

Deno.test("h1: takeBufferedBody gives a body that arrived whole without reading", async () => {
  const handler: Http1Handler = (req) => {
    const whole = req.takeBufferedBody();
    return { status: 200, body: enc.encode(whole ? `whole:${dec.decode(whole)}` : "none") };
  };
  await withServer(handler, async (port) => {
    const c = await Raw.open(port);
    try {
      await c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
      assert.equal((await c.response()).body, "whole:abc");
    } finally {
      c.close();
    }
  });
});

Deno.test("h1 deadlines: the sweep fires passed deadlines once, and only armed ones", () => {
  const sweep = new DeadlineSweep();
  let fired = 0;
  const a = sweep.add(() => fired++);
  const b = sweep.add(() => fired += 10);
  a.arm(100);
  const now = performance.now();
  sweep.sweep(now + 50);
  assert.equal(fired, 0);
  sweep.sweep(now + 200);
  assert.equal(fired, 1);
  sweep.sweep(now + 300);
  assert.equal(fired, 1, "fires once per arming");
  b.arm(0);
  b.disarm();
  sweep.sweep(now + 400);
  assert.equal(fired, 1);
  sweep.delete(a);
  sweep.delete(b);
  assert.equal(sweep.size, 0);
});

Deno.test("h1 head: parse of fields, keep-alive and body length", () => {
  const h = parseHead(enc.encode(
    "\r\nPOST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\nX-A:  v  \r\nConnection: Keep-Alive, Close\r\n\r\n",
  ));
  assert.equal(h.method, "POST");
  assert.equal(h.target, "/x");
  assert.equal(h.bodyLength, 12);
  assert.equal(h.keepAlive, false);
  assert.deepEqual(h.fields.find(([n]) => n === "x-a"), ["x-a", "v"]);
  assert.equal(
    parseHead(enc.encode("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")).keepAlive,
    true,
  );
  assert.throws(
    () => parseHead(enc.encode("GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n")),
    HeadError,
  );
  const latin = new Uint8Array([
    ...enc.encode("GET / HTTP/1.1\r\nHost: x\r\nX: "),
    0xe9,
    13,
    10,
    13,
    10,
  ]);
  assert.deepEqual(parseHead(latin).fields[1], ["x", "\u00e9"], "obs-text kept byte for byte");
  const buf = enc.encode("GET / HTTP/1.1\nHost: x\n\nrest");
  assert.equal(findHeadEnd(buf, 0, buf.length), buf.length - 4, "bare LF line ends are accepted");
});
