// The chat panel. Messages are data packets on LiveKit's chat topic, JSON {id, timestamp,
// message} plus the sender's name (shown only when the sender has left: the room's recent chat
// replayed to a newcomer arrives the same way as live chat); LiveKit's ChatMessage packets from
// other clients are shown too.

import { h, setLabel, setText } from './dom';
import { icon } from './icons';
import { lang } from './i18n';
import { formatTime, linkify } from './names';

export const CHAT_TOPIC = 'lk-chat-topic';

export interface ChatEntry {
  id: string;
  timestamp: number;
  message: string;
  from: string; // display name
  identity: string;
  local: boolean;
}

/** decodeChat reads a chat payload; null when it is not one. */
export function decodeChat(payload: Uint8Array): { id: string; timestamp: number; message: string; name?: string } | null {
  try {
    const v = JSON.parse(new TextDecoder().decode(payload)) as { id?: unknown; timestamp?: unknown; message?: unknown; name?: unknown };
    if (typeof v.message !== 'string' || !v.message) return null;
    return {
      id: typeof v.id === 'string' ? v.id : crypto.randomUUID(),
      timestamp: typeof v.timestamp === 'number' ? v.timestamp : Date.now(),
      message: v.message.slice(0, 2000),
      name: typeof v.name === 'string' ? v.name.slice(0, 64) : undefined,
    };
  } catch {
    return null;
  }
}

export function encodeChat(message: string, name: string): { payload: Uint8Array<ArrayBuffer>; id: string; timestamp: number } {
  const id = crypto.randomUUID();
  const timestamp = Date.now();
  return { payload: new TextEncoder().encode(JSON.stringify({ id, timestamp, message, name })), id, timestamp };
}

export class ChatPanel {
  readonly el: HTMLElement;
  private list = h('ol', { class: 'chat-log', 'aria-live': 'polite' });
  private input = h('input', { testid: 'chat-input', maxlength: 2000, autocomplete: 'off', i18nPlaceholder: 'chatPlaceholder', i18nAria: 'chatPlaceholder' });
  private sendBtn = h('button', { type: 'submit', testid: 'chat-send', class: 'primary', i18n: 'send' });
  private off = h('p', { class: 'chat-off', testid: 'chat-disabled', role: 'status', i18n: 'chatOff', hidden: true });
  private seen = new Set<string>();
  private entries: ChatEntry[] = [];
  unread = 0;
  open = false;

  constructor(
    private send: (text: string) => Promise<void>,
    private onUnread: (n: number) => void,
    onClose: () => void,
  ) {
    const close = h('button', { type: 'button', class: 'icon', i18nAria: 'close', onclick: onClose }, icon('close'));
    const empty = h('p', { class: 'empty', i18n: 'chatEmpty' });
    this.el = h(
      'aside',
      { class: 'panel chat', testid: 'chat-panel', 'aria-labelledby': 'chat-title' },
      h('header', {}, h('h2', { id: 'chat-title', i18n: 'chat' }), close),
      empty,
      this.list,
      this.off,
      h('form', { class: 'chat-form', onsubmit: (e: Event) => void this.submit(e) }, this.input, this.sendBtn),
    );
    this.empty = empty;
  }
  private empty: HTMLElement;

  /** setEnabled follows the host's chat setting: reading stays, writing stops. */
  setEnabled(on: boolean): void {
    this.input.disabled = !on;
    this.sendBtn.disabled = !on;
    this.off.hidden = on;
  }

  private async submit(e: Event) {
    e.preventDefault();
    if (this.input.disabled) return;
    const text = this.input.value.trim();
    if (!text) return;
    this.input.value = '';
    try {
      await this.send(text);
    } catch {
      this.input.value = text;
      const li = h('li', { class: 'msg error', role: 'alert', i18n: 'errSend' });
      this.list.append(li);
    }
  }

  add(m: ChatEntry): void {
    if (this.seen.has(m.id)) return;
    this.seen.add(m.id);
    this.entries.push(m);
    // Replayed history can arrive after live messages: keep the list in time order.
    this.entries.sort((a, b) => a.timestamp - b.timestamp);
    const i = this.entries.indexOf(m);
    const li = this.render(m);
    const next = this.list.children[i];
    if (next) this.list.insertBefore(li, next);
    else this.list.append(li);
    this.empty.hidden = true;
    this.list.scrollTop = this.list.scrollHeight;
    if (!this.open && !m.local) {
      this.unread++;
      this.onUnread(this.unread);
    }
  }

  private render(m: ChatEntry): HTMLElement {
    const body = h('p', { class: 'text' });
    for (const piece of linkify(m.message)) {
      body.append(piece.href ? h('a', { href: piece.href, target: '_blank', rel: 'noopener noreferrer' }, piece.text) : piece.text);
    }
    const time = h('time', { datetime: new Date(m.timestamp).toISOString() }, formatTime(new Date(m.timestamp), lang()));
    time.dataset.ts = String(m.timestamp);
    const who = h('span', { class: 'from' });
    if (m.local) setText(who, 'you');
    else who.textContent = m.from;
    return h('li', { class: m.local ? 'msg mine' : 'msg', testid: 'chat-message', 'data-identity': m.identity }, h('div', { class: 'meta' }, who, time), body);
  }

  /** relabel re-formats the times after a language switch. */
  relabel(): void {
    for (const t of this.list.querySelectorAll<HTMLTimeElement>('time[data-ts]')) t.textContent = formatTime(new Date(Number(t.dataset.ts)), lang());
  }

  setOpen(open: boolean): void {
    this.open = open;
    if (open) {
      this.unread = 0;
      this.onUnread(0);
      setTimeout(() => this.input.focus(), 0);
      this.list.scrollTop = this.list.scrollHeight;
    }
    setLabel(this.input, 'chatPlaceholder');
  }
}
