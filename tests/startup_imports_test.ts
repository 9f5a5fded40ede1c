/**
 * What a member loads at start: the modules reachable from main.ts through
 * static imports (`deno info --json`, dynamic imports left out). Every
 * module loaded at start stays resident for the life of the process, so
 * the parts an idle member does not serve are imported on first use: this
 * test fails when a static import pulls one of them back in.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = join(fileURLToPath(import.meta.url), "..", "..");

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
}

/** Specifiers reachable from main.ts through static imports. */
async function staticGraph(): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: InfoModule[];
    redirects?: Record<string, string>;
  };
  const byName = new Map(info.modules.map((m) => [m.specifier, m]));
  const resolve = (s: string) => info.redirects?.[s] ?? s;
  const seen = new Set<string>();
  const todo = info.roots.map(resolve);
  while (todo.length > 0) {
    const s = todo.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const dep of byName.get(s)?.dependencies ?? []) {
      if (dep.code && !dep.isDynamic) todo.push(resolve(dep.code.specifier));
    }
  }
  return seen;
}

/** Whether any specifier in `graph` names `part` (a repo path, a node: module or an npm package). */
function loads(graph: Set<string>, part: string): boolean {
  for (const s of graph) {
    if (part.startsWith("src/") ? s === `file://${join(REPO, part)}` : s.includes(part)) {
      return true;
    }
  }
  return false;
}

Deno.test("start-up imports: what an idle member does not serve is loaded on first use", async () => {
  const graph = await staticGraph();
  // The check itself sees the member: the graph is main.ts's, npm packages included.
  for (const part of ["src/serve.ts", "src/server/member.ts", "@bufbuild/protobuf"]) {
    assert.ok(loads(graph, part), `${part} should be loaded at start`);
  }
  const lazy = [
    // The JSON gateway: its first /v3/ request (src/http/gateway/mount.ts).
    "src/http/gateway/gateway.ts",
    // pprof and the dashboard: their first request (src/http/lazy_routes.ts).
    "src/http/pprof.ts",
    "src/ui/mod.ts",
    "src/ui/dashboard_bundle.gen.ts",
    // Connect and gRPC-Web: their first call (src/http/handler.ts).
    "src/http/connect_handlers.ts",
    "@connectrpc/connect-node",
    // The bbolt snapshot writer: the first Snapshot RPC.
    "src/snapshot/export.ts",
    "src/bbolt/writer.ts",
    // TLS: a TLS port or a node:tls dial.
    "src/http/tls/listen_tls.ts",
    "node:tls",
    "@peculiar/x509",
    // --discovery-srv, `cairn snapshot`, --config-file.
    "src/discovery/bootstrap.ts",
    "src/cli/snapshot.ts",
    "yaml",
    // Auth: JWT tokens and bcrypt when auth is used.
    "jose",
    "hash-wasm",
    // Only without --expose-gc (src/process/idle_gc.ts).
    "node:vm",
    // Browser tests only.
    "playwright-core",
    "preact",
  ];
  const loaded = lazy.filter((part) => loads(graph, part));
  assert.deepEqual(loaded, [], "loaded at start, but needed only on first use");
});
