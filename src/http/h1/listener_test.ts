/**
 * HTTP/1.1 through the client port's listener: the sniffer hands a
 * connection that is not HTTP/2 to cairn's HTTP/1.1 server on every kind
 * of listen URL (cleartext TCP, a Unix socket, TLS with ALPN http/1.1),
 * keep-alive included, beside HTTP/2 on the same port.
 */
import assert from "node:assert/strict";
import { createLogger } from "../../log.ts";
import { type ClientListener, listenClient } from "../client_listener.ts";
import { generateSelfSigned } from "../tls/auto_cert.ts";
import type { Http1Handler } from "./server.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const log = createLogger("error");

/** Answers with the path and the protocol seen. */
const handler: Http1Handler = (req) => ({
  status: 200,
  header: [["content-type", "text/plain"]],
  body: enc.encode(`${req.method} ${req.target} HTTP/${req.httpVersion}`),
});

async function listen(
  url: string,
  tls?: { cert: string; key: string; ca?: string },
  http1: Http1Handler = handler,
): Promise<ClientListener> {
  return await listenClient({
    url: new URL(url),
    tls: tls && {
      ...tls,
      requireClientCert: tls.ca !== undefined,
      policy: {
        crlFile: "",
        allowedCns: [],
        allowedHostnames: [],
        checkRemoteSan: false,
        cipherSuites: [],
      },
      handshakeTimeoutMs: 5000,
    },
    onStream: (stream) => stream.reset(),
    http1,
    log,
  });
}

/** Two requests on one connection; the bodies of both answers. */
async function twoRequests(conn: Deno.Conn): Promise<string[]> {
  const bodies: string[] = [];
  let text = "";
  const buf = new Uint8Array(16384);
  for (const path of ["/one", "/two"]) {
    await conn.write(enc.encode(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`));
    for (;;) {
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        const length = Number(/content-length: (\d+)/.exec(text.slice(0, end))?.[1]);
        if (text.length >= end + 4 + length) {
          bodies.push(text.slice(end + 4, end + 4 + length));
          text = text.slice(end + 4 + length);
          break;
        }
      }
      const n = await conn.read(buf);
      assert.notEqual(n, null, "the server closed the connection");
      text += dec.decode(buf.subarray(0, n!));
    }
  }
  return bodies;
}

const expected = ["GET /one HTTP/1.1", "GET /two HTTP/1.1"];

Deno.test("h1 listener: cleartext TCP serves HTTP/1.1 with keep-alive", async () => {
  const l = await listen("http://127.0.0.1:0");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: l.address.port });
  try {
    assert.deepEqual(await twoRequests(conn), expected);
  } finally {
    conn.close();
    await l.close();
  }
});

Deno.test("h1 listener: a Unix socket serves HTTP/1.1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cairn-h1-unix-" });
  const path = `${dir}/client.sock`;
  const l = await listen(`unix://${path}`);
  const conn = await Deno.connect({ transport: "unix", path });
  try {
    assert.deepEqual(await twoRequests(conn), expected);
  } finally {
    conn.close();
    await l.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "h1 listener: TLS with ALPN http/1.1 serves HTTP/1.1",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { certPem, keyPem } = await generateSelfSigned(["127.0.0.1"], 1, false);
    const l = await listen("https://127.0.0.1:0", { cert: certPem, key: keyPem });
    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: l.address.port,
      caCerts: [certPem],
      alpnProtocols: ["http/1.1"],
    });
    try {
      const hs = await conn.handshake();
      assert.equal(hs.alpnProtocol, "http/1.1");
      assert.deepEqual(await twoRequests(conn), expected);
    } finally {
      conn.close();
      await l.close();
    }
  },
});

Deno.test({
  name: "h1 listener: a verified client certificate reaches HTTP/1.1 requests",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const server = await generateSelfSigned(["127.0.0.1"], 1, false);
    const client = await generateSelfSigned(["client.example"], 1, true);
    let seen: Uint8Array | undefined;
    const l = await listen(
      "https://127.0.0.1:0",
      { cert: server.certPem, key: server.keyPem, ca: client.certPem },
      (req) => {
        seen = req.peerCertificate;
        return handler(req);
      },
    );
    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: l.address.port,
      caCerts: [server.certPem],
      alpnProtocols: ["http/1.1"],
      cert: client.certPem,
      key: client.keyPem,
    });
    try {
      assert.deepEqual(await twoRequests(conn), expected);
      const der = Uint8Array.from(
        atob(client.certPem.replace(/-----[^-]+-----|\s/g, "")),
        (c) => c.charCodeAt(0),
      );
      assert.deepEqual(seen, der);
    } finally {
      conn.close();
      await l.close();
    }
  },
});
