/**
 * Inputs the fuzzers found that once stopped a member, replayed as fixed
 * cases so they stay fixed whatever seed a run draws.
 *
 * - h2-frames: one HTTP/2 request that the web `Request` type cannot
 *   represent (a method fetch forbids such as TRACE, a lower-case or
 *   malformed method, an :authority or :scheme that makes no URL, a header
 *   name with a space on a Connect path) made serveFetch/serveUniversal
 *   reject with nobody listening: the unhandled rejection ended the process.
 */
import assert from "node:assert/strict";
import { skipIfToolsMissing } from "../harness/tools.ts";
import { callBatch, type H2Call, header } from "./h2_calls.ts";
import { LiveTarget } from "./live.ts";

const ignore = skipIfToolsMissing("fuzz/regressions_test.ts");

function request(
  method: string,
  path: string,
  extra: [string, string][] = [],
  contentType = "text/plain",
  authority = "127.0.0.1",
  scheme = "http",
): H2Call {
  return {
    headers: [
      [":method", method],
      [":scheme", scheme],
      [":path", path],
      [":authority", authority],
      ["content-type", contentType],
      ...extra,
    ],
    body: [],
    end: true,
    streaming: false,
  };
}

Deno.test({
  name: "fuzz regressions: HTTP/2 requests no web Request can hold are refused, the member lives",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const target = await LiveTarget.start("regress");
    try {
      const calls: [string, H2Call][] = [
        ["TRACE /health", request("TRACE", "/health")],
        ["TRACK /health", request("TRACK", "/health")],
        ["CONNECT /health", request("CONNECT", "/health")],
        [
          "TRACE on a Connect path",
          request("TRACE", "/etcdserverpb.KV/Range", [], "application/proto"),
        ],
        ["lower-case method", request("get", "/health")],
        ["method with a space", request("G T", "/health")],
        ["authority that is no host", request("GET", "/health", [], "text/plain", "a b:99999")],
        ["scheme that is no scheme", request("GET", "/health", [], "text/plain", "x", "ht tp")],
        [
          "header name with a space on a Connect path",
          request("POST", "/etcdserverpb.KV/Range", [["bad name", "x"]], "application/proto"),
        ],
      ];
      for (const [what, call] of calls) {
        // One connection per request: a crash is then pinned on its request.
        const { outcomes, unanswered } = await callBatch(target.member.clientPort, [call], 5000);
        const o = outcomes[0];
        assert.equal(unanswered.length, 0, `${what}: no answer`);
        assert.ok(
          header(o, ":status") !== undefined || o.reset !== undefined,
          `${what}: neither a status nor a reset (${o.lost ?? "?"})`,
        );
        const problem = await target.problem();
        assert.equal(problem, undefined, `${what}: ${problem}`);
      }
    } finally {
      await target.destroy();
    }
  },
});
