// Small DOM helpers shared by the page's modules.

/** $ returns the element for sel; the page's markup always has it. */
export function $<T extends HTMLElement = HTMLElement>(sel: string): T {
  const el = document.querySelector<T>(sel);
  if (!el) throw new Error('page markup lacks ' + sel);
  return el;
}

let statusTimer = 0;

/**
 * setStatus shows a short line at the top of the page (kind: 'info',
 * 'reconnecting', 'error'); an empty text hides it. With ms it hides itself.
 */
export function setStatus(text: string, kind = 'info', ms = 0): void {
  const el = $('#status');
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = !text;
  window.clearTimeout(statusTimer);
  if (text && ms > 0) statusTimer = window.setTimeout(() => setStatus(''), ms);
}

/** show makes the screen with this id the only one visible. */
export function show(id: string): void {
  for (const s of document.querySelectorAll<HTMLElement>('.screen')) s.hidden = s.id !== id;
}
