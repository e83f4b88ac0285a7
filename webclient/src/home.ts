// The home page: start a meeting, join one by code or link, and the meetings joined lately.

import { ApiError, createMeeting } from './api';
import { h, setText } from './dom';
import { parseMeetingInput } from './names';
import { store } from './storage';

export function home(go: (path: string, invite?: string) => void): HTMLElement {
  const err = h('p', { testid: 'error-message', class: 'error', role: 'alert', hidden: true });
  const createBtn = h('button', { type: 'button', testid: 'create-meeting', class: 'primary wide', i18n: 'createMeeting' });
  const code = h('input', { testid: 'meeting-code-input', id: 'code-input', i18nPlaceholder: 'codePlaceholder', autocomplete: 'off', spellcheck: 'false' });
  const showErr = (key: Parameters<typeof setText>[1]) => {
    setText(err, key);
    err.hidden = false;
  };
  createBtn.addEventListener('click', async () => {
    createBtn.disabled = true;
    err.hidden = true;
    try {
      const m = await createMeeting();
      go(`/m/${encodeURIComponent(m.room)}`, m.hostInvite);
    } catch (e) {
      const c = e instanceof ApiError ? e.code : '';
      showErr(c === 'unauthorized' || c === 'forbidden' ? 'errCreateNotAllowed' : c === 'rate_limited' ? 'errRateLimited' : 'errUnreachable');
    } finally {
      createBtn.disabled = false;
    }
  });
  const joinForm = h(
    'form',
    {
      class: 'join-code',
      onsubmit: (e: Event) => {
        e.preventDefault();
        const m = parseMeetingInput(code.value);
        if (!m) {
          showErr('errCodeInvalid');
          return;
        }
        go(`/m/${encodeURIComponent(m.room)}`, m.invite);
      },
    },
    h('label', { for: 'code-input', class: 'sr-only', i18n: 'codeLabel' }),
    code,
    h('button', { type: 'submit', testid: 'join-code-button', i18n: 'joinShort' }),
  );
  const recent = store.recent();
  const recentList = h('ul', { class: 'recent' });
  for (const r of recent) {
    const a = h('a', { href: r.link }, r.room);
    recentList.append(h('li', {}, a, h('time', { datetime: new Date(r.at).toISOString() }, new Date(r.at).toLocaleDateString('vi-VN'))));
  }
  return h(
    'section',
    { class: 'home' },
    h('div', { class: 'hero' }, h('h1', { i18n: 'homeTitle' }), h('p', { class: 'lead', i18n: 'homeLead' })),
    h('div', { class: 'card' }, createBtn, h('div', { class: 'or', i18n: 'or' }), joinForm, err),
    recent.length ? h('div', { class: 'card' }, h('h2', { i18n: 'recentMeetings' }), recentList) : null,
  );
}

export function ended(reasonKey: Parameters<typeof setText>[1], rejoin: () => void, goHome: () => void): HTMLElement {
  return h(
    'section',
    { class: 'ended card', testid: 'ended' },
    h('h1', { i18n: reasonKey === 'endLeft' ? 'endLeftTitle' : 'endTitle' }),
    h('p', { testid: 'end-reason', i18n: reasonKey }),
    h('div', { class: 'row' }, h('button', { type: 'button', class: 'primary', testid: 'rejoin-button', i18n: 'rejoin', onclick: rejoin }), h('button', { type: 'button', i18n: 'goHome', onclick: goHome })),
  );
}

export function notFound(goHome: () => void): HTMLElement {
  return h(
    'section',
    { class: 'ended card', testid: 'not-found' },
    h('h1', { i18n: 'notFoundTitle' }),
    h('p', { i18n: 'notFoundText' }),
    h('button', { type: 'button', class: 'primary', i18n: 'goHome', onclick: goHome }),
  );
}
