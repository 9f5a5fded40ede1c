/**
 * The page script of tests/browser/cors_test.ts: a web app on its own
 * origin that uses cairn's published client (src/client/mod.ts) with a
 * Connect-Web transport to read one key and watch a prefix on the member
 * named by `?server=`. It writes what it sees into the DOM for the test.
 */
/// <reference lib="dom" />
import { createConnectTransport } from "@connectrpc/connect-web";
import { cairnClients } from "../../src/client/mod.ts";

const server = new URLSearchParams(location.search).get("server") ?? "";
const cairn = cairnClients(createConnectTransport({ baseUrl: server }));
const enc = new TextEncoder();
const dec = new TextDecoder();
const value = document.getElementById("value")!;
const events = document.getElementById("events")!;

try {
  const got = await cairn.kv.range({ key: enc.encode("cors/k") });
  value.textContent = dec.decode(got.kvs[0]?.value ?? new Uint8Array());
  value.dataset.state = "read";
} catch (err) {
  value.textContent = String(err);
  value.dataset.state = "error";
}

try {
  const stream = cairn.streams.watch({ key: enc.encode("cors/"), rangeEnd: enc.encode("cors0") });
  for await (const resp of stream) {
    if (resp.created) events.dataset.state = "watching";
    for (const ev of resp.events) {
      const li = document.createElement("li");
      li.textContent = `${dec.decode(ev.kv?.key)}=${dec.decode(ev.kv?.value)}`;
      events.append(li);
    }
  }
} catch (err) {
  events.dataset.state = "error";
  events.dataset.error = String(err);
}
