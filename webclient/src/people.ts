// The participant list: who is here, their microphone and camera, raised hands in order.

import type { Participant } from 'livekit-client';
import { clear, h, setLabel, setText } from './dom';
import { icon } from './icons';
import { avatarHue, initials } from './names';

export const ROLE_ATTR = 'hop.role';
export const HAND_ATTR = 'hop.hand';

/** handTime is when a participant raised their hand (ms), 0 when it is down. */
export function handTime(p: Participant): number {
  const v = Number(p.attributes[HAND_ATTR] ?? '');
  return Number.isFinite(v) && v > 0 ? v : 0;
}

export class PeoplePanel {
  readonly el: HTMLElement;
  private list = h('ul', { class: 'people' });
  private title = h('h2', { id: 'people-title' });

  constructor(onClose: () => void) {
    this.el = h(
      'aside',
      { class: 'panel', testid: 'participant-list', 'aria-labelledby': 'people-title' },
      h('header', {}, this.title, h('button', { type: 'button', class: 'icon', i18nAria: 'close', onclick: onClose }, icon('close'))),
      this.list,
    );
  }

  /** render lists participants: raised hands first in the order they were raised, then the rest
   *  in join order. */
  render(all: Participant[], hands: string[], localIdentity: string): void {
    setText(this.title, 'peopleCount', { n: all.length });
    const pos = new Map(hands.map((id, i) => [id, i]));
    const sorted = [...all].sort((a, b) => (pos.get(a.identity) ?? 1e9) - (pos.get(b.identity) ?? 1e9));
    clear(this.list);
    for (const p of sorted) {
      const display = p.name || p.identity;
      const name = h('span', { class: 'name' });
      if (p.identity === localIdentity) setText(name, 'youName', { name: display });
      else name.textContent = display;
      const role = p.attributes[ROLE_ATTR];
      const badges = h('span', { class: 'badges' });
      if (role === 'host') badges.append(h('span', { class: 'badge', i18n: 'roleHost' }));
      if (role === 'viewer') badges.append(h('span', { class: 'badge', i18n: 'roleViewer' }));
      const order = pos.get(p.identity);
      const hand = h('span', { class: 'hand', testid: 'hand-raised', role: 'img', hidden: order === undefined }, icon('hand'), order === undefined ? '' : String(order + 1));
      if (order !== undefined) {
        hand.dataset.order = String(order + 1);
        setLabel(hand, 'handRaised');
      }
      const mic = h('span', { class: 'state', role: 'img', 'data-state': p.isMicrophoneEnabled ? 'on' : 'off' }, icon(p.isMicrophoneEnabled ? 'mic' : 'micOff'));
      setLabel(mic, p.isMicrophoneEnabled ? 'micOnState' : 'micMuted');
      const cam = h('span', { class: 'state', role: 'img', 'data-state': p.isCameraEnabled ? 'on' : 'off' }, icon(p.isCameraEnabled ? 'cam' : 'camOff'));
      setLabel(cam, p.isCameraEnabled ? 'camOnState' : 'camOffState');
      const av = h('span', { class: 'avatar small', 'aria-hidden': 'true' }, initials(display));
      av.style.setProperty('--hue', String(avatarHue(p.identity)));
      this.list.append(h('li', { testid: 'participant-entry', 'data-identity': p.identity }, av, name, badges, hand, mic, cam));
    }
  }
}
