// A confirmation in the page (never the browser's confirm(), which blocks the meeting's events).

import { h, setText } from './dom';
import type { Key } from './i18n';

export interface ConfirmOptions {
  text: Key;
  params?: Record<string, string | number>;
  ok: Key;
  /** check adds a checkbox (unticked) whose state comes back with the answer. */
  check?: Key;
  checkTestid?: string;
  /** input adds a text field, filled with value; its text comes back with the answer. */
  input?: { label: Key; value: string; testid: string };
  testid: string;
  danger?: boolean;
}

/** confirm asks; it resolves with ok false when cancelled or dismissed with Escape. */
export function confirm(o: ConfirmOptions): Promise<{ ok: boolean; checked: boolean; value: string }> {
  return new Promise((resolve) => {
    const text = h('p', {});
    setText(text, o.text, o.params);
    const box = o.check ? h('input', { type: 'checkbox', testid: o.checkTestid }) : null;
    const field = o.input ? h('input', { testid: o.input.testid, value: o.input.value, maxlength: 64, i18nAria: o.input.label }) : null;
    const d = h(
      'dialog',
      { class: 'confirm', testid: o.testid },
      text,
      box ? h('label', { class: 'check' }, box, h('span', { i18n: o.check! })) : null,
      field ? h('label', { class: 'field' }, h('span', { i18n: o.input!.label }), field) : null,
      h(
        'div',
        { class: 'row' },
        h('button', { type: 'button', testid: 'confirm-cancel', i18n: 'cancel', onclick: () => done(false) }),
        h('button', { type: 'button', testid: 'confirm-ok', class: o.danger === false ? 'primary' : 'danger', i18n: o.ok, onclick: () => done(true) }),
      ),
    );
    const done = (ok: boolean) => {
      d.close();
      d.remove();
      resolve({ ok, checked: !!box?.checked, value: field?.value.trim() ?? '' });
    };
    d.addEventListener('cancel', (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.append(d);
    d.showModal();
    field?.select();
    field?.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') done(true);
    });
  });
}
