// Choosing the camera, microphone and speaker during a meeting: the lists follow the devices
// plugged in, and a choice switches the device the meeting uses without leaving it.

import { type Room, RoomEvent, supportsAudioOutputSelection, Track } from 'livekit-client';
import { deviceChoices, listDevices } from './devices';
import { clear, h } from './dom';
import { icon } from './icons';
import type { Key } from './i18n';
import { store } from './storage';

const KINDS: { kind: MediaDeviceKind; label: Key; testid: string }[] = [
  { kind: 'videoinput', label: 'camera', testid: 'device-camera' },
  { kind: 'audioinput', label: 'microphone', testid: 'device-mic' },
  { kind: 'audiooutput', label: 'speaker', testid: 'device-speaker' },
];

export class DevicePanel {
  readonly el: HTMLElement;
  private selects = new Map<MediaDeviceKind, HTMLSelectElement>();
  private problem = h('p', { class: 'hint danger-text', role: 'alert', hidden: true, i18n: 'deviceSwitchFailed' });
  private open = false;

  constructor(
    private room: () => Room | undefined,
    onClose: () => void,
  ) {
    const body = h('div', { class: 'host-body devices-body' });
    for (const k of KINDS) {
      // Browsers without setSinkId play through the system's speaker only.
      if (k.kind === 'audiooutput' && !supportsAudioOutputSelection()) continue;
      const sel = h('select', { testid: k.testid, onchange: () => void this.choose(k.kind, sel.value) });
      this.selects.set(k.kind, sel);
      body.append(h('label', { class: 'field' }, h('span', { i18n: k.label }), sel));
    }
    body.append(this.problem);
    this.el = h(
      'aside',
      { class: 'panel', testid: 'device-panel', 'aria-labelledby': 'devices-title' },
      h('header', {}, h('h2', { id: 'devices-title', i18n: 'deviceSettings' }), h('button', { type: 'button', class: 'icon', i18nAria: 'close', onclick: onClose }, icon('close'))),
      body,
    );
  }

  /** setOpen lists the devices when the panel opens; closed, it does no work. */
  setOpen(open: boolean): void {
    this.open = open;
    if (open) void this.refresh();
  }

  /** wire follows the room's devicechange (plugged, unplugged) and its own switches. */
  wire(room: Room): void {
    room.on(RoomEvent.ActiveDeviceChanged, () => void this.refresh()).on(RoomEvent.MediaDevicesChanged, () => void this.refresh());
  }

  /** active is the device in use: the live track's own, else what the room was told. */
  private active(kind: MediaDeviceKind): string | undefined {
    const room = this.room();
    if (!room) return store.device(kind);
    if (kind === 'audiooutput') return room.options.audioOutput?.deviceId || room.getActiveDevice(kind) || store.device(kind);
    const source = kind === 'videoinput' ? Track.Source.Camera : Track.Source.Microphone;
    const track = room.localParticipant.getTrackPublication(source)?.track;
    return track?.mediaStreamTrack.getSettings().deviceId || room.getActiveDevice(kind) || store.device(kind);
  }

  async refresh(): Promise<void> {
    if (!this.open) return;
    for (const [kind, sel] of this.selects) {
      const options = deviceChoices(await listDevices(kind), this.active(kind));
      // The list is rebuilt only when it changed, so an open list is not closed under the user.
      const sig = JSON.stringify(options);
      if (sel.dataset.sig === sig) continue;
      sel.dataset.sig = sig;
      clear(sel);
      for (const o of options) sel.append(h('option', { value: o.id, selected: o.selected }, o.label));
      sel.disabled = options.length === 0;
      if (options.length === 0) sel.append(h('option', { i18n: 'noDevices' }));
    }
  }

  private async choose(kind: MediaDeviceKind, id: string) {
    const room = this.room();
    if (!room) return;
    this.problem.hidden = true;
    let ok = false;
    try {
      ok = await room.switchActiveDevice(kind, id);
    } catch {
      ok = false;
    }
    if (ok) store.setDevice(kind, id);
    else this.problem.hidden = false;
    // What shows selected is what the room uses now, switched or not.
    const sel = this.selects.get(kind);
    if (sel) delete sel.dataset.sig;
    await this.refresh();
  }
}
