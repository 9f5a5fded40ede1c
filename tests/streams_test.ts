/**
 * cairn's Streams service called the way a browser calls it: through
 * `@connectrpc/connect-web`'s fetch-based transports (the Connect protocol
 * with JSON and with binary messages, and gRPC-Web), which cannot send
 * while they receive, against a real member. A server-streaming Watch sees
 * puts as they happen and ends after a cancellation; LeaseKeepAlive keeps
 * a lease alive past its TTL for as long as the call lasts, and the lease
 * expires once the caller goes away. The client comes from the
 * repository's published client module (src/client/mod.ts).
 */

import assert from "node:assert/strict";
import type { Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import {
  cairnClients,
  type LeaseKeepAliveResponse,
  type WatchResponse,
} from "../src/client/mod.ts";
import { Member, sleep } from "./harness/member.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

const TRANSPORTS: Array<[string, (baseUrl: string) => Transport]> = [
  ["Connect, JSON", (baseUrl) => createConnectTransport({ baseUrl })],
  ["Connect, binary", (baseUrl) => createConnectTransport({ baseUrl, useBinaryFormat: true })],
  ["gRPC-Web", (baseUrl) => createGrpcWebTransport({ baseUrl })],
];

/** The next item of `it` within `ms`, or a failed assertion. */
async function nextWithin<T>(it: AsyncIterator<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  try {
    const r = await Promise.race([it.next(), timeout]);
    assert.ok(!r.done, `${what}: the stream ended`);
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}

Deno.test({
  name: "Streams over fetch-based transports: watch, lease keep-alive",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const member = await Member.start({ kind: "cairn", extraArgs: ["--log-level=warn"] });
    try {
      for (const [name, make] of TRANSPORTS) {
        const cairn = cairnClients(make(member.clientUrl));
        await t.step(`${name}: a watch streams puts as they happen`, async () => {
          const key = enc(`w/${name}`);
          const abort = new AbortController();
          const it = cairn.streams.watch({ key, prevKv: true }, { signal: abort.signal })
            [Symbol.asyncIterator]() as AsyncIterator<WatchResponse>;
          try {
            const created = await nextWithin(it, 5000, "created");
            assert.equal(created.created, true);
            for (const value of ["1", "2"]) {
              const put = await cairn.kv.put({ key, value: enc(value) });
              const resp = await nextWithin(it, 2000, `event ${value}`);
              assert.equal(resp.events.length, 1);
              assert.equal(dec(resp.events[0].kv!.key), `w/${name}`);
              assert.equal(dec(resp.events[0].kv!.value), value);
              assert.equal(resp.events[0].kv!.modRevision, put.header!.revision);
              if (value === "2") assert.equal(dec(resp.events[0].prevKv!.value), "1");
            }
          } finally {
            abort.abort();
          }
        });
        await t.step(`${name}: a watch of a compacted revision is canceled and ends`, async () => {
          const key = enc(`c/${name}`);
          await cairn.kv.put({ key, value: enc("a") });
          const put = await cairn.kv.put({ key, value: enc("b") });
          await cairn.kv.compact({ revision: put.header!.revision });
          const seen: WatchResponse[] = [];
          for await (const resp of cairn.streams.watch({ key, startRevision: 1n })) {
            seen.push(resp);
          }
          assert.equal(seen.at(-1)?.canceled, true);
          assert.equal(seen.at(-1)?.compactRevision, put.header!.revision);
        });
        await t.step(
          `${name}: a keep-alive stream outlives the TTL, the lease dies with it`,
          async () => {
            const { ID } = await cairn.lease.leaseGrant({ TTL: 3n });
            const abort = new AbortController();
            const answers: LeaseKeepAliveResponse[] = [];
            const streaming = (async () => {
              for await (
                const a of cairn.streams.leaseKeepAlive({ ID }, { signal: abort.signal })
              ) {
                answers.push(a);
              }
            })().catch(() => {});
            // Past the 3 s TTL the lease lives on, renewed every second.
            await sleep(4500);
            const alive = await cairn.lease.leaseTimeToLive({ ID });
            assert.ok(alive.TTL > 0n, `TTL ${alive.TTL} after 4.5 s`);
            assert.ok(answers.length >= 4, `${answers.length} renewals in 4.5 s`);
            assert.ok(answers.every((a) => a.ID === ID && a.TTL === 3n));
            abort.abort();
            await streaming;
            // Without renewals it expires (TTL -1 once gone), within its TTL and the revoke.
            let ttl = 0n;
            for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(200)) {
              ttl = (await cairn.lease.leaseTimeToLive({ ID })).TTL;
              if (ttl === -1n) break;
            }
            assert.equal(ttl, -1n, "the lease expired after the stream ended");
          },
        );
        await t.step(
          `${name}: keep-alive of a lease that does not exist answers TTL 0 and ends`,
          async () => {
            const answers: LeaseKeepAliveResponse[] = [];
            for await (const a of cairn.streams.leaseKeepAlive({ ID: 424242n })) answers.push(a);
            assert.equal(answers.length, 1);
            assert.equal(answers[0].TTL, 0n);
          },
        );
      }
    } finally {
      await member.destroy();
    }
  },
});
