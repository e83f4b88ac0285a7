// Hop's meeting app: routes between the home page, a meeting's pre-join and the meeting itself.

import { getConfig } from './api';
import { clear, h, setText, translate } from './dom';
import { home, ended, notFound } from './home';
import { type Lang, lang, setLang } from './i18n';
import { type EndReason, Meeting } from './meeting';
import { meetingLink } from './api';
import { preJoin } from './prejoin';
import { store } from './storage';
import './style.css';

const endKey = { left: 'endLeft', ended: 'endEnded', kicked: 'endKicked', duplicate: 'endDuplicate', lost: 'endLost' } as const;

const view = h('main', { id: 'view' });
const langBtn = h('button', { type: 'button', testid: 'language-toggle', class: 'lang', i18n: 'switchLang', i18nAria: 'switchLangLabel', lang: 'en' });
const header = h('header', { class: 'bar' }, h('a', { class: 'brand', href: '/', i18nAria: 'homeLink' }, 'Hop'), h('span', { class: 'spacer' }), langBtn);
document.body.append(header, view);

let meeting: Meeting | undefined;
let dev = false;
const config = getConfig()
  .then((c) => (dev = c.dev))
  .catch(() => undefined);

function applyLang() {
  document.documentElement.lang = lang();
  document.title = `Hop — ${document.documentElement.lang === 'vi' ? 'Họp trực tuyến' : 'Video meetings'}`;
  langBtn.setAttribute('lang', lang() === 'vi' ? 'en' : 'vi');
  translate(document.body);
  meeting?.relabel();
}

langBtn.addEventListener('click', () => {
  const next: Lang = lang() === 'vi' ? 'en' : 'vi';
  setLang(next);
  store.setLang(next);
  applyLang();
});

function go(path: string, invite?: string) {
  history.pushState(null, '', invite ? `${path}#invite=${invite}` : path);
  route();
}

// What the current view must release when another replaces it (a pre-join's camera).
let release: (() => void) | undefined;

function show(e: HTMLElement, full = false) {
  release?.();
  release = undefined;
  clear(view);
  view.append(e);
  document.body.classList.toggle('in-meeting', full);
}

function route() {
  const path = location.pathname;
  if (path === '/' || path === '/index.html') {
    show(home(go));
    return;
  }
  const m = /^\/m\/([^/]+)\/?$/.exec(path);
  if (!m) {
    show(notFound(() => go('/')));
    return;
  }
  const room = decodeURIComponent(m[1]);
  // The invitation leaves the address bar (and history) at once; the tab keeps it for rejoining.
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('invite');
  if (fromHash) {
    store.setInvite(room, fromHash);
    history.replaceState(null, '', `/m/${encodeURIComponent(room)}`);
  }
  const invite = fromHash ?? store.invite(room);
  openPreJoin(room, invite);
}

function openPreJoin(room: string, invite?: string) {
  const pj = preJoin(room, async (choice) => {
    pj.busy(true);
    await config;
    try {
      const onWaiting = (leave: () => void) => pj.waiting(leave);
      meeting = await Meeting.start({ room, invite, dev, onWaiting }, choice, (r: EndReason) => {
        meeting = undefined;
        show(ended(endKey[r], () => openPreJoin(room, invite), () => go('/')));
      });
      release = undefined;
      pj.destroy(true);
      const joined = meeting.roomName;
      if (joined !== room) history.replaceState(null, '', `/m/${encodeURIComponent(joined)}`);
      if (invite) store.setInvite(joined, invite);
      store.addRecent({ room: joined, link: meetingLink(joined, invite), at: Date.now() });
      show(meeting.el, true);
    } catch (err) {
      const f = err as { key?: Parameters<typeof setText>[1]; params?: Record<string, string | number>; code?: string };
      pj.waiting(null);
      pj.busy(false);
      // Leaving the lobby is a choice, not an error.
      if (f.code === 'cancelled') return;
      if (f.code === 'password_required' || f.code === 'password_wrong') pj.askPassword();
      pj.showError(f.key ?? 'errJoin', f.params);
    }
  });
  show(pj.el);
  release = () => pj.destroy(false);
}

window.addEventListener('popstate', () => {
  if (meeting) return;
  route();
});
applyLang();
route();
