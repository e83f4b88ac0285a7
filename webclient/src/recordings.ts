// The meeting's recordings in the host panel: when each was made, how long, whether it is ready,
// and its files to download or delete. What it shows comes from the node (the hosts' API).

import { ApiError, type Recording } from './api';
import { confirm } from './dialog';
import { clear, h, setText } from './dom';
import type { Key } from './i18n';

/** RecordingsSource is what the list asks of the meeting: the node's answers, with its token. */
export interface RecordingsSource {
  list(): Promise<Recording[]>;
  download(r: Recording, file: Recording['files'][number]): Promise<void>;
  remove(id: string): Promise<void>;
}

const statusKey: Record<Recording['status'], Key> = { active: 'recActive', ending: 'recEnding', complete: 'recComplete', failed: 'recFailed' };

const two = (n: number) => String(n).padStart(2, '0');

/** recordedWhen is a recording's start and length in words any language reads alike. */
export function recordedWhen(r: Recording, now: number): { date: string; time: string; length: string } {
  const d = new Date(r.startedAt);
  const secs = Math.max(0, Math.round(((r.endedAt || now) - r.startedAt) / 1000));
  const hh = Math.floor(secs / 3600);
  const mm = Math.floor((secs % 3600) / 60);
  const length = hh > 0 ? `${hh}:${two(mm)}:${two(secs % 60)}` : `${mm}:${two(secs % 60)}`;
  return { date: `${two(d.getDate())}/${two(d.getMonth() + 1)}/${d.getFullYear()}`, time: `${two(d.getHours())}:${two(d.getMinutes())}`, length };
}

export class RecordingsList {
  readonly el: HTMLElement;
  private list = h('ul', { class: 'recordings', testid: 'recordings-list' });
  private note = h('p', { class: 'empty', testid: 'recordings-note' });
  private open = false;
  private timer = 0;
  private items: Recording[] = [];

  constructor(private source: RecordingsSource) {
    this.el = h('section', { 'aria-labelledby': 'recordings-title', testid: 'recordings' }, h('h3', { id: 'recordings-title', i18n: 'recordingsTitle' }), this.note, this.list);
    this.render();
  }

  /** setOpen lists the recordings while the panel shows, again every few seconds while one is
   *  not finished (its status is the node's to change). */
  setOpen(open: boolean): void {
    this.open = open;
    if (open) void this.refresh();
    else clearTimeout(this.timer);
  }

  /** refresh asks the node again (a recording just started or stopped). */
  async refresh(): Promise<void> {
    clearTimeout(this.timer);
    if (!this.open) return;
    try {
      this.items = await this.source.list();
      this.el.hidden = false;
      this.render();
    } catch (err) {
      // A co-host named in the meeting holds a participant's token: the recordings are the
      // hosts' (and the operator's), so the section is not theirs to see.
      if (err instanceof ApiError && err.status === 403) {
        this.el.hidden = true;
        return;
      }
      setText(this.note, 'recordingsError');
      this.note.hidden = false;
    }
    if (this.open && this.items.some((r) => r.status === 'active' || r.status === 'ending')) {
      this.timer = window.setTimeout(() => void this.refresh(), 3000);
    }
  }

  private render() {
    clear(this.list);
    const now = Date.now();
    for (const r of this.items) {
      const state = h('span', { class: `rec-state ${r.status}`, testid: 'recording-status' });
      setText(state, statusKey[r.status]);
      const when = h('span', { class: 'when' });
      setText(when, 'recWhen', recordedWhen(r, now));
      const actions = h('div', { class: 'rec-actions' });
      if (r.status === 'complete') {
        for (const f of r.files) {
          const b = h('button', { type: 'button', class: 'primary', testid: 'recording-download', 'data-file': f.name, title: f.name, i18n: 'recDownload' });
          b.addEventListener('click', () => void this.download(r, f, b));
          actions.append(b);
        }
      }
      if (r.status === 'complete' || r.status === 'failed') {
        actions.append(h('button', { type: 'button', testid: 'recording-delete', i18n: 'recDelete', onclick: () => void this.remove(r) }));
      }
      this.list.append(h('li', { testid: 'recording', 'data-id': r.id, 'data-status': r.status }, h('div', { class: 'who' }, when, state), actions));
    }
    setText(this.note, 'recordingsEmpty');
    this.note.hidden = this.items.length > 0;
  }

  private async download(r: Recording, f: Recording['files'][number], b: HTMLButtonElement) {
    b.disabled = true;
    try {
      await this.source.download(r, f);
    } catch {
      setText(this.note, 'recDownloadFailed');
      this.note.hidden = false;
    } finally {
      b.disabled = false;
    }
  }

  private async remove(r: Recording) {
    const a = await confirm({ text: 'recDeleteConfirm', ok: 'recDeleteOk', testid: 'recording-delete-confirm', danger: true });
    if (!a.ok) return;
    try {
      await this.source.remove(r.id);
    } finally {
      await this.refresh();
    }
  }
}

/** saveLink has the browser download a file from a link. */
export function saveLink(url: string, name: string): void {
  const a = h('a', { href: url, download: name, rel: 'noopener', hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
}

/** saveBlob hands a downloaded file to the browser under its name. */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  saveLink(url, name);
  // The download has its own copy once it started.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
