/**
 * Small pieces shared by the dashboard's views: the `html` tag (htm bound
 * to Preact), the error banner, the confirmation dialog and a polling hook.
 *
 * @module
 */
/// <reference lib="dom" />
import { h, type VNode } from "preact";
import { useEffect, useRef } from "preact/hooks";
import htm from "htm";

/** The tag function htm makes (its .d.ts is read as CommonJS, so the default import is cast). */
type Tag = (strings: TemplateStringsArray, ...values: unknown[]) => VNode;

/** JSX-free templates: htm turns tagged templates into Preact elements. */
export const html: Tag = (htm as unknown as { bind(hyperscript: typeof h): Tag }).bind(h);

/** An error shown where the failed data would be (role=alert reads it out). */
export function ErrorBanner(props: { error?: string; onClose?: () => void }): VNode | null {
  if (!props.error) return null;
  return html`<div class="error" role="alert" data-testid="error">
    <span>${props.error}</span>
    ${
    props.onClose &&
    html`<button type="button" class="link" onClick=${props.onClose}>dismiss</button>`
  }
  </div>`;
}

/** What a confirmation asks. */
export interface ConfirmRequest {
  title: string;
  body: string;
  /** Label of the button that goes ahead, e.g. "Delete". */
  action: string;
  run: () => void | Promise<void>;
}

/**
 * A modal confirmation (native <dialog>: focus moves into it, Escape
 * cancels, Tab stays inside). Nothing destructive runs without one.
 */
export function ConfirmDialog(
  props: { request?: ConfirmRequest; onClose: () => void },
): VNode | null {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (props.request && dialog && !dialog.open) dialog.showModal();
  }, [props.request]);
  if (!props.request) return null;
  const req = props.request;
  const close = () => {
    ref.current?.close();
    props.onClose();
  };
  return html`
    <dialog ref=${ref} class="confirm" data-testid="confirm" onCancel=${close}
      aria-labelledby="confirm-title">
      <h2 id="confirm-title">${req.title}</h2>
      <p>${req.body}</p>
      <div class="actions">
        <button type="button" onClick=${close} data-testid="confirm-cancel" autofocus>Cancel</button>
        <button type="button" class="danger" data-testid="confirm-ok"
          onClick=${() => {
            close();
            void req.run();
          }}>${req.action}</button>
      </div>
    </dialog>
  `;
}

/** Calls `fn` now and every `ms` while the component is shown. */
export function usePoll(fn: () => void, ms: number, deps: unknown[]): void {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    saved.current();
    const t = setInterval(() => saved.current(), ms);
    return () => clearInterval(t);
  }, deps);
}
