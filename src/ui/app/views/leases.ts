/**
 * Leases: each with its TTL counting down and its keys; grant, revoke
 * (confirmed) and keep alive (cairn's server-streaming LeaseKeepAlive, for
 * as long as the toggle is on and the page is open).
 *
 * @module
 */
/// <reference lib="dom" />
import type { VNode } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { isAbort } from "../api.ts";
import { leaseHex, showBin, toBin } from "../bytes.ts";
import type { ViewContext } from "../context.ts";
import { ConfirmDialog, type ConfirmRequest, ErrorBanner, html, usePoll } from "../ui.ts";
import { keysRoute } from "./keys.ts";

/** Leases whose details are fetched at most (the list itself shows them all). */
const MAX_DETAILED = 200;

interface LeaseRow {
  id: bigint;
  /** Remaining TTL when fetched (s); -1 once expired. */
  ttl: number;
  granted: number;
  keys: string[];
  fetchedAt: number;
}

/** The lease list. */
export function LeasesView(props: { ctx: ViewContext }): VNode {
  const { ctx } = props;
  const lease = ctx.api.clients.lease;
  const [rows, setRows] = useState<LeaseRow[]>();
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<string>();
  const [ttl, setTtl] = useState("60");
  const [confirm, setConfirm] = useState<ConfirmRequest>();
  const [, setTick] = useState(0);
  const keepers = useRef(new Map<bigint, AbortController>());
  const [keeping, setKeeping] = useState<Set<bigint>>(new Set());

  const refresh = async () => {
    try {
      const list = await lease.leaseLeases({});
      const ids = list.leases.map((l) => l.ID).slice(0, MAX_DETAILED);
      const details = await Promise.all(ids.map(async (id) => {
        const t = await lease.leaseTimeToLive({ ID: id, keys: true });
        return {
          id,
          ttl: Number(t.TTL),
          granted: Number(t.grantedTTL),
          keys: t.keys.map(toBin),
          fetchedAt: Date.now(),
        };
      }));
      setRows(details.filter((d) => d.ttl >= 0).sort((a, b) => (a.id < b.id ? -1 : 1)));
      setTotal(list.leases.length);
      setError(undefined);
    } catch (err) {
      setError(ctx.fail(err));
    }
  };
  usePoll(refresh, 2000, []);
  // The countdown moves every second between refreshes.
  usePoll(() => setTick((n) => n + 1), 1000, []);
  useEffect(() => () => keepers.current.forEach((c) => c.abort()), []);

  const grant = async () => {
    try {
      const r = await lease.leaseGrant({ TTL: BigInt(Math.max(1, Number(ttl) | 0)) });
      if (r.error) return setError(r.error);
      await refresh();
    } catch (err) {
      setError(ctx.fail(err));
    }
  };

  const toggleKeepAlive = async (id: bigint) => {
    const running = keepers.current.get(id);
    if (running) {
      running.abort();
      return;
    }
    const c = new AbortController();
    keepers.current.set(id, c);
    setKeeping(new Set(keepers.current.keys()));
    try {
      for await (
        const resp of ctx.api.clients.streams.leaseKeepAlive({ ID: id }, { signal: c.signal })
      ) {
        setRows((old) =>
          old?.map((r) => r.id === id ? { ...r, ttl: Number(resp.TTL), fetchedAt: Date.now() } : r)
        );
      }
    } catch (err) {
      if (!isAbort(err)) setError(ctx.fail(err));
    }
    keepers.current.delete(id);
    setKeeping(new Set(keepers.current.keys()));
  };

  const now = Date.now();
  return html`<section class="leases" aria-label="Leases">
    <form class="row" onSubmit=${(e: Event) => {
    e.preventDefault();
    void grant();
  }}>
      <label>TTL (seconds) <input inputmode="numeric" size="6" value=${ttl}
        onInput=${(e: Event) => setTtl((e.target as HTMLInputElement).value)} /></label>
      <button type="submit" data-testid="grant">Grant lease</button>
    </form>
    <${ErrorBanner} error=${error} />
    ${rows === undefined && !error && html`<p class="muted" role="status">Loading…</p>`}
    ${rows && rows.length === 0 && html`<p class="muted">No leases.</p>`}
    ${
    total > MAX_DETAILED && html`<p class="muted">Showing ${MAX_DETAILED} of ${total} leases.</p>`
  }
    ${
    rows && rows.length > 0 && html`
      <table>
        <thead>
          <tr>
            <th scope="col">lease</th>
            <th scope="col">TTL left</th>
            <th scope="col">granted</th>
            <th scope="col">keys</th>
            <th scope="col">actions</th>
          </tr>
        </thead>
        <tbody>
              ${rows.map((r) => {
                const left = Math.max(0, r.ttl - Math.floor((now - r.fetchedAt) / 1000));
                return html`
                  <tr key=${String(r.id)} data-testid="lease-row" data-lease=${leaseHex(r.id)}>
                    <td><code class="id">${leaseHex(r.id)}</code></td>
                    <td data-testid="lease-ttl" data-ttl=${left}>${left}s</td>
                    <td>${r.granted}s</td>
                    <td>
                      <ul class="inline">${r.keys.map((k) =>
                        html`<li key=${k}>
              <a href=${keysRoute(parentOf(k), k)} data-testid="lease-key">${showBin(k)}</a></li>`
                      )}</ul>
                    </td>
                    <td>
                      <div class="actions">
                        <button type="button" aria-pressed=${keeping.has(r.id)}
                          onClick=${() => toggleKeepAlive(r.id)}>${keeping.has(r.id)
                            ? "Stop keep-alive"
                            : "Keep alive"}</button>
                        <button type="button" class="danger" onClick=${() =>
                          setConfirm({
                            title: "Revoke lease?",
                            body: `Revoke lease ${
                              leaseHex(r.id)
                            }? Its ${r.keys.length} key(s) are deleted with it.`,
                            action: "Revoke",
                            run: async () => {
                              try {
                                keepers.current.get(r.id)?.abort();
                                await lease.leaseRevoke({ ID: r.id });
                                await refresh();
                              } catch (err) {
                                setError(ctx.fail(err));
                              }
                            },
                          })}>Revoke</button>
                      </div>
                    </td>
                  </tr>
                `;
              })}
            </tbody>
      </table>
    `
  }
    <${ConfirmDialog} request=${confirm} onClose=${() => setConfirm(undefined)} />
  </section>`;
}

/** The directory a key is listed in. */
function parentOf(key: string): string {
  return key.slice(0, key.lastIndexOf("/", key.length - 2) + 1);
}
