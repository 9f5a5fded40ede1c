/**
 * The live watch panel: one watch on a key or prefix through cairn's
 * server-streaming Watch (fetch-based Connect-Web cannot carry etcd's
 * bidirectional one), events shown as they arrive with their previous
 * values.
 *
 * @module
 */
/// <reference lib="dom" />
import type { VNode } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { Event_EventType } from "../../../client/mod.ts";
import { isAbort } from "../api.ts";
import { encodeText, fromBin, prefixEnd, preview, showBin, toBin } from "../bytes.ts";
import type { ViewContext } from "../context.ts";
import { ErrorBanner, html } from "../ui.ts";

/** Events kept on screen; older ones scroll away. */
const MAX_EVENTS = 500;

interface Row {
  id: number;
  type: "PUT" | "DELETE";
  key: string;
  revision: bigint;
  value?: Uint8Array;
  prev?: Uint8Array;
  /** When the page received it (Date.now()), for the browser test's latency check. */
  at: number;
}

/** The watch panel. */
export function WatchView(props: { ctx: ViewContext }): VNode {
  const { ctx } = props;
  const [key, setKey] = useState("");
  const [prefix, setPrefix] = useState(true);
  const [fromRev, setFromRev] = useState("");
  const [rows, setRows] = useState<Row[]>([]);
  const [state, setState] = useState<"idle" | "starting" | "watching">("idle");
  const [error, setError] = useState<string>();
  const ctl = useRef<AbortController | undefined>(undefined);
  const seq = useRef(0);
  useEffect(() => () => ctl.current?.abort(), []);

  const stop = () => {
    ctl.current?.abort();
    ctl.current = undefined;
    setState("idle");
  };

  const start = async () => {
    stop();
    setError(undefined);
    const bin = toBin(encodeText(key));
    if (!/^\d*$/.test(fromRev.trim())) return setError("The start revision is not a number.");
    const c = new AbortController();
    ctl.current = c;
    setState("starting");
    const startRevision = fromRev.trim() === "" ? 0n : BigInt(fromRev.trim());
    try {
      const stream = ctx.api.clients.streams.watch({
        key: fromBin(bin === "" ? "\0" : bin),
        rangeEnd: prefix ? fromBin(prefixEnd(bin)) : new Uint8Array(),
        prevKv: true,
        startRevision,
      }, { signal: c.signal });
      for await (const resp of stream) {
        if (resp.created) setState("watching");
        if (resp.canceled) {
          setError(resp.cancelReason || `watch canceled (compacted at ${resp.compactRevision})`);
          break;
        }
        if (resp.events.length === 0) continue;
        const at = Date.now();
        const fresh = resp.events.map((ev): Row => ({
          id: ++seq.current,
          type: ev.type === Event_EventType.DELETE ? "DELETE" : "PUT",
          key: toBin(ev.kv?.key ?? new Uint8Array()),
          revision: ev.kv?.modRevision ?? 0n,
          value: ev.type === Event_EventType.DELETE ? undefined : ev.kv?.value,
          prev: ev.prevKv?.value,
          at,
        }));
        setRows((old) => [...fresh.reverse(), ...old].slice(0, MAX_EVENTS));
      }
    } catch (err) {
      if (!isAbort(err)) setError(ctx.fail(err));
    }
    if (ctl.current === c) {
      ctl.current = undefined;
      setState("idle");
    }
  };

  return html`
    <section class="watch" aria-label="Live watch">
      <form class="row" onSubmit=${(e: Event) => {
        e.preventDefault();
        void start();
      }}>
          <label class="grow">Key or prefix <input value=${key} data-testid="watch-key"
            onInput=${(e: Event) => setKey((e.target as HTMLInputElement).value)} /></label>
          <label><input type="checkbox" checked=${prefix} data-testid="watch-prefix"
            onChange=${(e: Event) =>
              setPrefix((e.target as HTMLInputElement).checked)} /> prefix</label>
          <label>from revision <input inputmode="numeric" size="8" value=${fromRev} placeholder="now"
            onInput=${(e: Event) => setFromRev((e.target as HTMLInputElement).value)} /></label>
          ${state === "idle"
            ? html`<button type="submit" data-testid="watch-start">Start watch</button>`
            : html`<button type="button" onClick=${stop} data-testid="watch-stop">Stop</button>`}
          <button type="button" onClick=${() => setRows([])}>Clear</button>
        </form>
      <p role="status" class="muted" data-testid="watch-state" data-state=${state}>
          ${state === "watching"
            ? `Watching ${prefix ? "prefix" : "key"} "${key}"…`
            : state === "starting"
            ? "Starting…"
            : "Not watching."}
        </p>
      <${ErrorBanner} error=${error} />
      <table class="events">
        <thead>
          <tr>
            <th scope="col">event</th>
            <th scope="col">key</th>
            <th scope="col">revision</th>
            <th scope="col">value</th>
            <th scope="col">previous value</th>
          </tr>
        </thead>
        <tbody role="log" aria-live="polite">
            ${rows.map((r) =>
              html`
                <tr key=${r.id} data-testid="watch-event" data-type=${r.type}
                  data-key=${showBin(r.key)} data-received-at=${r.at}>
                  <td class=${r.type === "PUT" ? "put" : "del"}>${r.type}</td>
                  <td>${showBin(r.key)}</td>
                  <td>${String(r.revision)}</td>
                  <td><code data-testid="watch-value">${r.value ? preview(r.value) : ""}</code></td>
                  <td><code data-testid="watch-prev">${r.prev ? preview(r.prev) : ""}</code></td>
                </tr>
              `
            )}
          </tbody>
      </table>
    </section>
  `;
}
