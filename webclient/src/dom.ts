// A tiny element builder: the app is plain TypeScript, no framework (see README: bundle size).

import { type Key, t } from './i18n';

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | null | undefined>;

/** h builds an element. Attributes: class, testid (data-testid), on<event> listeners, text keys
 *  i18n / i18nAria / i18nPlaceholder / i18nTitle (translated now and on every language switch),
 *  and any other attribute; false or null leaves an attribute out. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      e.addEventListener(k.slice(2), v as EventListener);
    } else if (k === 'testid') {
      e.dataset.testid = String(v);
    } else if (k === 'i18n' || k === 'i18nAria' || k === 'i18nPlaceholder' || k === 'i18nTitle') {
      e.dataset[k] = String(v);
    } else if (k === 'class') {
      e.className = String(v);
    } else {
      e.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  translate(e);
  return e;
}

/** setText gives an element a text key (with parameters) that follows the language. */
export function setText(e: HTMLElement, key: Key, params?: Record<string, string | number>): void {
  e.dataset.i18n = key;
  if (params) e.dataset.i18nParams = JSON.stringify(params);
  else delete e.dataset.i18nParams;
  translate(e, false);
}

/** setLabel gives a control an aria-label (and tooltip) key that follows the language. */
export function setLabel(e: HTMLElement, key: Key): void {
  e.dataset.i18nAria = key;
  e.dataset.i18nTitle = key;
  translate(e, false);
}

/** translate fills the text of e (and, deep, of its descendants) from their keys. */
export function translate(root: HTMLElement, deep = true): void {
  const all = deep ? [root, ...root.querySelectorAll<HTMLElement>('[data-i18n],[data-i18n-aria],[data-i18n-placeholder],[data-i18n-title]')] : [root];
  for (const e of all) {
    const d = e.dataset;
    const params = d.i18nParams ? (JSON.parse(d.i18nParams) as Record<string, string | number>) : undefined;
    if (d.i18n) e.textContent = t(d.i18n as Key, params);
    if (d.i18nAria) e.setAttribute('aria-label', t(d.i18nAria as Key));
    if (d.i18nTitle) e.title = t(d.i18nTitle as Key);
    if (d.i18nPlaceholder) e.setAttribute('placeholder', t(d.i18nPlaceholder as Key));
  }
}

export function clear(e: HTMLElement): void {
  while (e.firstChild) e.firstChild.remove();
}
