/**
 * Test helper: serves HTTP/2 (prior knowledge) on a free loopback port with
 * {@link H2Connection}, so tests can drive it with any HTTP/2 client.
 *
 * @module
 */
import { H2Connection, type H2Options } from "./connection.ts";
import type { H2Stream } from "./stream.ts";

/** A running test server. */
export interface TestH2Server {
  port: number;
  /** Connections currently served. */
  connections: Set<H2Connection>;
  close(): Promise<void>;
}

/** Starts a server calling `onStream` for each request. */
export function startTestH2Server(
  onStream: (stream: H2Stream) => void,
  opts: Partial<H2Options> = {},
): TestH2Server {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections = new Set<H2Connection>();
  const runs: Promise<void>[] = [];
  const accepting = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        return;
      }
      const h2 = new H2Connection(conn, { ...opts, onStream });
      connections.add(h2);
      runs.push(h2.run().finally(() => connections.delete(h2)));
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    connections,
    async close() {
      listener.close();
      await accepting;
      for (const c of connections) c.close();
      await Promise.all(runs);
    },
  };
}
