/**
 * The history tab of a key: every revision still in the store, and a line
 * diff between any two of them.
 *
 * @module
 */
/// <reference lib="dom" />
import type { VNode } from "preact";
import { useEffect, useState } from "preact/hooks";
import { isAbort } from "../api.ts";
import { decodeText, fromBin, preview, viewValue } from "../bytes.ts";
import type { ViewContext } from "../context.ts";
import { diffLines } from "../diff.ts";
import { type History, loadHistory, type Revision } from "../history.ts";
import { ErrorBanner, html } from "../ui.ts";

/** The revisions of `keyBin` with a diff between two chosen ones. */
export function HistoryPanel(props: { ctx: ViewContext; keyBin: string }): VNode {
  const { ctx, keyBin } = props;
  const [history, setHistory] = useState<History>();
  const [error, setError] = useState<string>();
  const [a, setA] = useState<bigint>();
  const [b, setB] = useState<bigint>();
  useEffect(() => {
    const ctl = new AbortController();
    setHistory(undefined);
    loadHistory(ctx.api.clients, fromBin(keyBin), { signal: ctl.signal }).then((h) => {
      setHistory(h);
      // By default the latest revision against the value it replaced: the
      // put before it, when there is one.
      const revs = h.revisions;
      const latest = revs[revs.length - 1];
      const before = revs.slice(0, -1).reverse().find((r) => r.type === "put") ??
        revs[revs.length - 2] ?? latest;
      setB(latest?.revision);
      setA(before?.revision);
    }, (err) => {
      if (!isAbort(err)) setError(ctx.fail(err));
    });
    return () => ctl.abort();
  }, [keyBin]);

  if (error) return html`<${ErrorBanner} error=${error} />`;
  if (!history) return html`<p class="muted" role="status">Reading history…</p>`;
  const byRev = new Map(history.revisions.map((r) => [r.revision, r]));
  const ra = a !== undefined ? byRev.get(a) : undefined;
  const rb = b !== undefined ? byRev.get(b) : undefined;
  return html`<div class="history" data-testid="history">
    ${
    history.compactRevision > 0n &&
    html`<p class="muted">${`Revisions before ${history.compactRevision} were compacted away.`}</p>`
  }
    ${
    history.truncated &&
    html`<p class="muted">${`Only the latest ${history.revisions.length} revisions are shown.`}</p>`
  }
    <table>
      <caption>Revisions, oldest first. Pick A and B to compare.</caption>
      <thead><tr><th scope="col">A</th><th scope="col">B</th><th scope="col">revision</th>
        <th scope="col">event</th><th scope="col">version</th><th scope="col">value</th></tr></thead>
      <tbody>
        ${
    history.revisions.map((r) =>
      html`
        <tr key=${String(r.revision)} data-testid="history-row">
          <td><input type="radio" name="diff-a" aria-label=${`A: revision ${r.revision}`}
                    checked=${r.revision === a} onChange=${() => setA(r.revision)} /></td>
          <td><input type="radio" name="diff-b" aria-label=${`B: revision ${r.revision}`}
                    checked=${r.revision === b} onChange=${() => setB(r.revision)} /></td>
          <td>${String(r.revision)}</td>
          <td>${r.type}</td>
          <td>${String(r.version)}</td>
          <td><code>${r.type === "put" ? preview(r.value) : ""}</code></td>
        </tr>
      `
    )
  }
      </tbody>
    </table>
    ${ra && rb && html`<${Diff} a=${ra} b=${rb} />`}
  </div>`;
}

function text(r: Revision): string {
  if (r.type === "delete") return "";
  const v = viewValue(r.value);
  return v.kind === "json" || v.kind === "binary" ? v.display : decodeText(r.value);
}

function Diff(props: { a: Revision; b: Revision }): VNode {
  const lines = diffLines(text(props.a), text(props.b));
  return html`
    <figure class="diff">
      <figcaption>Revision ${String(props.a.revision)} → ${String(props.b.revision)}</figcaption>
      <pre data-testid="diff">${lines.map((l) =>
        html`<span class=${
          l.op === "+" ? "add" : l.op === "-" ? "del" : "same"
        }>${l.op} ${l.text}\n</span>`
      )}</pre>
    </figure>
  `;
}
