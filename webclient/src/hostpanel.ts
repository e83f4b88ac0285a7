// The host panel: the lobby queue, the meeting's settings, and what a host does to everyone at
// once. It only asks the node (JSON control API); what it shows comes back from the node.

import { defaultSettings, type Settings, type Waiting, waitedMinutes } from './control';
import { confirm } from './dialog';
import { clear, h, setLabel, setText } from './dom';
import { icon } from './icons';
import { RecordingsList, type RecordingsSource } from './recordings';

export type Send = (body: Record<string, unknown>) => Promise<void>;

export class HostPanel {
  readonly el: HTMLElement;
  private settings: Settings = defaultSettings;
  private waiting: Waiting[] = [];
  private queue = h('ul', { class: 'lobby-queue', testid: 'lobby-queue' });
  private empty = h('p', { class: 'empty', i18n: 'lobbyEmpty' });
  private admitAll = h('button', { type: 'button', testid: 'lobby-admit-all', class: 'primary', i18n: 'lobbyAdmitAll' });
  private lobby = h('input', { type: 'checkbox', testid: 'lobby-toggle' });
  private lock = h('input', { type: 'checkbox', testid: 'lock-meeting' });
  private record = h('input', { type: 'checkbox', testid: 'record-meeting' });
  private chat = h('input', { type: 'checkbox', testid: 'chat-setting' });
  private muteEntry = h('input', { type: 'checkbox', testid: 'mute-on-entry' });
  private camEntry = h('input', { type: 'checkbox', testid: 'camera-off-on-entry' });
  private share = h('select', { testid: 'screenshare-setting' }, h('option', { value: 'all', i18n: 'shareAll' }), h('option', { value: 'hosts', i18n: 'shareHosts' }));
  private password = h('input', { type: 'password', testid: 'meeting-password', autocomplete: 'new-password', maxlength: 64, i18nAria: 'passwordLabel' });
  private passwordState = h('p', { class: 'hint', testid: 'password-state' });
  private passwordClear = h('button', { type: 'button', testid: 'meeting-password-clear', i18n: 'passwordClear' });
  private block = h('input', { type: 'checkbox', testid: 'mute-all-block' });
  private allow = h('button', { type: 'button', testid: 'allow-unmute', i18n: 'allowUnmute' });
  private timer = 0;
  private recordings: RecordingsList;

  constructor(
    private send: Send,
    onClose: () => void,
    private canEnd: () => boolean,
    recordings: RecordingsSource,
  ) {
    this.recordings = new RecordingsList(recordings);
    const toggle = (input: HTMLInputElement, key: Parameters<typeof setText>[1]) => h('label', { class: 'check' }, input, h('span', { i18n: key }));
    const setting = (field: keyof Settings, input: HTMLInputElement) =>
      input.addEventListener('change', () => void this.act({ action: 'settings', [field]: input.checked }, () => (input.checked = !input.checked)));
    setting('lobby', this.lobby);
    setting('chat', this.chat);
    setting('muteOnEntry', this.muteEntry);
    setting('cameraOffOnEntry', this.camEntry);
    this.lock.addEventListener('change', () => void this.act({ action: this.lock.checked ? 'lock' : 'unlock' }, () => (this.lock.checked = !this.lock.checked)));
    this.record.addEventListener('change', () => void this.act({ action: 'record', on: this.record.checked }, () => (this.record.checked = !this.record.checked)));
    this.share.addEventListener('change', () => void this.act({ action: 'settings', screenShare: this.share.value }));
    this.admitAll.addEventListener('click', () => void this.act({ action: 'admit', id: 'all' }));
    const passwordForm = h(
      'form',
      {
        class: 'password-form',
        onsubmit: (e: Event) => {
          e.preventDefault();
          const v = this.password.value;
          if (!v) return;
          void this.act({ action: 'settings', password: v }).then(() => (this.password.value = ''));
        },
      },
      this.password,
      h('button', { type: 'submit', testid: 'meeting-password-set', i18n: 'passwordSet' }),
    );
    this.passwordClear.addEventListener('click', () => void this.act({ action: 'settings', password: '' }));
    this.allow.addEventListener('click', () => void this.act({ action: 'allow-unmute' }));
    const muteAll = h('button', { type: 'button', testid: 'mute-all', i18n: 'muteAll', onclick: () => void this.act({ action: 'mute-all', block: this.block.checked }) });
    const lowerHands = h('button', { type: 'button', testid: 'lower-hands', i18n: 'lowerHands', onclick: () => void this.act({ action: 'lower-hand', identity: '' }) });
    const end = h('button', { type: 'button', testid: 'end-meeting', class: 'danger', i18n: 'endMeeting', onclick: () => void this.end() });
    this.el = h(
      'aside',
      { class: 'panel host', testid: 'host-panel', 'aria-labelledby': 'host-title' },
      h('header', {}, h('h2', { id: 'host-title', i18n: 'hostPanel' }), h('button', { type: 'button', class: 'icon', i18nAria: 'close', onclick: onClose }, icon('close'))),
      h(
        'div',
        { class: 'host-body' },
        h('section', { 'aria-labelledby': 'lobby-title' }, h('h3', { id: 'lobby-title', i18n: 'lobbyTitle' }), this.empty, this.queue, this.admitAll),
        h('section', { 'aria-labelledby': 'everyone-title' }, h('h3', { id: 'everyone-title', i18n: 'everyoneTitle' }), toggle(this.block, 'muteAllBlock'), muteAll, this.allow, lowerHands),
        h(
          'section',
          { 'aria-labelledby': 'settings-title' },
          h('h3', { id: 'settings-title', i18n: 'settingsTitle' }),
          toggle(this.lobby, 'setLobby'),
          toggle(this.lock, 'setLock'),
          toggle(this.record, 'setRecord'),
          toggle(this.chat, 'setChat'),
          toggle(this.muteEntry, 'setMuteOnEntry'),
          toggle(this.camEntry, 'setCamOffOnEntry'),
          h('label', { class: 'field' }, h('span', { i18n: 'setShare' }), this.share),
          h('div', { class: 'field' }, h('span', { i18n: 'passwordLabel' }), passwordForm, this.passwordState, this.passwordClear),
        ),
        this.recordings.el,
        h('section', {}, end),
      ),
    );
    this.renderSettings();
    this.renderQueue();
  }

  /** act sends one action; on refusal undo puts the control back and the error is thrown on. */
  private async act(body: Record<string, unknown>, undo?: () => void): Promise<void> {
    try {
      await this.send(body);
    } catch (err) {
      undo?.();
      throw err;
    }
  }

  private async end() {
    if (!this.canEnd()) return;
    const a = await confirm({ text: 'endConfirm', ok: 'confirmEnd', testid: 'end-meeting-confirm' });
    if (a.ok) await this.act({ action: 'end' });
  }

  setSettings(s: Settings): void {
    this.settings = s;
    this.renderSettings();
  }

  /** setRecording shows whether the meeting is being recorded (the room's active_recording). */
  setRecording(on: boolean): void {
    this.record.checked = on;
    void this.recordings.refresh();
  }

  setWaiting(w: Waiting[]): void {
    this.waiting = w;
    this.renderQueue();
  }

  /** setOpen keeps the waiting times current only while someone looks at them. */
  setOpen(open: boolean): void {
    clearInterval(this.timer);
    if (open) this.timer = window.setInterval(() => this.renderQueue(), 30_000);
    this.recordings.setOpen(open);
  }

  setCanEnd(): void {
    (this.el.querySelector('[data-testid="end-meeting"]') as HTMLElement).hidden = !this.canEnd();
  }

  private renderSettings() {
    const s = this.settings;
    this.lobby.checked = s.lobby;
    this.lock.checked = s.locked;
    this.chat.checked = s.chat;
    this.muteEntry.checked = s.muteOnEntry;
    this.camEntry.checked = s.cameraOffOnEntry;
    this.share.value = s.screenShare;
    this.allow.disabled = s.unmute !== 'blocked';
    setText(this.passwordState, s.hasPassword ? 'passwordIsSet' : 'passwordNone');
    this.passwordState.dataset.set = String(s.hasPassword);
    this.passwordClear.hidden = !s.hasPassword;
    this.setCanEnd();
  }

  private renderQueue() {
    clear(this.queue);
    const now = Date.now();
    for (const w of this.waiting) {
      const mins = waitedMinutes(w.since, now);
      const when = h('span', { class: 'when' });
      if (mins < 1) setText(when, 'waitedNow');
      else setText(when, 'waitedMin', { n: mins });
      const admit = h('button', { type: 'button', class: 'primary', testid: 'lobby-admit', i18n: 'lobbyAdmit', onclick: () => void this.act({ action: 'admit', id: w.id }) });
      const deny = h('button', { type: 'button', testid: 'lobby-deny', i18n: 'lobbyDeny', onclick: () => void this.act({ action: 'deny', id: w.id }) });
      this.queue.append(h('li', { testid: 'lobby-entry', 'data-id': w.id }, h('div', { class: 'who' }, h('span', { class: 'name' }, w.name), when), admit, deny));
    }
    this.empty.hidden = this.waiting.length > 0;
    this.admitAll.hidden = this.waiting.length < 2;
    setLabel(this.queue, 'lobbyWaitingCount');
  }
}

let audio: AudioContext | undefined;

/** beep plays a short two-tone knock: someone is waiting in the lobby. */
export function beep(): void {
  // The app tests count knocks by this mark: the sound itself is not observable headless.
  performance.mark('hop:knock');
  try {
    audio ??= new AudioContext();
    const t = audio.currentTime;
    for (const [i, f] of [660, 880].entries()) {
      const o = audio.createOscillator();
      const g = audio.createGain();
      o.frequency.value = f;
      g.gain.setValueAtTime(0.0001, t + i * 0.16);
      g.gain.exponentialRampToValueAtTime(0.2, t + i * 0.16 + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, t + i * 0.16 + 0.14);
      o.connect(g).connect(audio.destination);
      o.start(t + i * 0.16);
      o.stop(t + i * 0.16 + 0.15);
    }
  } catch {
    // No audio output: the visible notice still says it.
  }
}
