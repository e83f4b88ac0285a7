// The participant list: who is here, their role, microphone and camera, raised hands in order,
// and for hosts and cohosts a menu of what they may do to each person.

import { type Participant, Track } from 'livekit-client';
import { type Action, actionKey, menuFor, onStage, type Role, roleKey, roleOf } from './control';
import { h, setLabel, setText } from './dom';
import { icon } from './icons';
import type { Key } from './i18n';
import { avatarHue, initials } from './names';

export { ROLE_ATTR } from './control';
export const HAND_ATTR = 'hop.hand';

/** handTime is when a participant raised their hand (ms), 0 when it is down. */
export function handTime(p: Participant): number {
  const v = Number(p.attributes[HAND_ATTR] ?? '');
  return Number.isFinite(v) && v > 0 ? v : 0;
}

export interface PeopleContext {
  me: Role;
  spotlight: string;
  /** act runs a menu action on a participant (the meeting asks the node). */
  act: (a: Action, p: Participant) => void;
}

export class PeoplePanel {
  readonly el: HTMLElement;
  private list = h('ul', { class: 'people' });
  private title = h('h2', { id: 'people-title' });
  // The menu open on one person survives re-renders (speakers change often).
  private openFor = '';

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
  render(all: Participant[], hands: string[], localIdentity: string, ctx: PeopleContext): void {
    setText(this.title, 'peopleCount', { n: all.length });
    const pos = new Map(hands.map((id, i) => [id, i]));
    const sorted = [...all].sort((a, b) => (pos.get(a.identity) ?? 1e9) - (pos.get(b.identity) ?? 1e9));
    const seen = new Set<string>();
    if (!all.some((p) => p.identity === this.openFor)) this.openFor = '';
    const want: HTMLElement[] = [];
    for (const p of sorted) {
      seen.add(p.identity);
      const role = roleOf(p.attributes);
      const order = pos.get(p.identity);
      const target = {
        role,
        stage: onStage(p.attributes),
        mic: p.isMicrophoneEnabled,
        camera: p.isCameraEnabled,
        sharing: !!p.getTrackPublication(Track.Source.ScreenShare),
        hand: order !== undefined,
        local: p.identity === localIdentity,
      };
      const actions = menuFor(ctx.me, target);
      // A row is rebuilt only when what it shows changed, so that an open menu and the focus
      // stay put while the meeting's other events re-render the list.
      const sig = JSON.stringify([p.name, target, order, actions, ctx.spotlight === p.identity]);
      let row = this.rows.get(p.identity);
      if (!row || row.sig !== sig) {
        const li = this.row(p, role, order, actions, localIdentity, ctx);
        row?.li.replaceWith(li);
        row = { sig, li };
        this.rows.set(p.identity, row);
      }
      want.push(row.li);
    }
    for (const [id, row] of this.rows) {
      if (!seen.has(id)) {
        row.li.remove();
        this.rows.delete(id);
      }
    }
    want.forEach((e, i) => {
      if (this.list.children[i] !== e) this.list.insertBefore(e, this.list.children[i] ?? null);
    });
  }

  private rows = new Map<string, { sig: string; li: HTMLElement }>();

  private row(p: Participant, role: Role, order: number | undefined, actions: Action[], localIdentity: string, ctx: PeopleContext): HTMLElement {
    const display = p.name || p.identity;
    const name = h('span', { class: 'name' });
    if (p.identity === localIdentity) setText(name, 'youName', { name: display });
    else name.textContent = display;
    const badges = h('span', { class: 'badges' });
    badges.append(h('span', { class: `badge role-${role}`, testid: 'participant-role', 'data-role': role, i18n: roleKey[role] }));
    if (ctx.spotlight === p.identity) badges.append(h('span', { class: 'badge', i18n: 'spotlighted' }));
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
    // The role sits under the name: a row is narrow and the name matters most.
    const li = h('li', { testid: 'participant-entry', 'data-identity': p.identity, 'data-role': role }, av, h('div', { class: 'who' }, name, badges), hand, mic, cam);
    if (actions.length) li.append(this.menu(p, actions, ctx));
    return li;
  }

  private menu(p: Participant, actions: Action[], ctx: PeopleContext): HTMLElement {
    const open = this.openFor === p.identity;
    const items = h('div', { class: 'menu', role: 'menu', hidden: !open });
    for (const a of actions) {
      let key: Key = actionKey[a];
      if (a === 'spotlight' && ctx.spotlight === p.identity) key = 'actUnspotlight';
      if (a === 'bring-to-stage' && onStage(p.attributes)) key = 'actBackFromStage';
      items.append(
        h('button', {
          type: 'button',
          role: 'menuitem',
          class: a === 'remove-participant' ? 'danger-text' : '',
          testid: a,
          i18n: key,
          onclick: () => {
            this.openFor = '';
            items.hidden = true;
            ctx.act(a, p);
          },
        }),
      );
    }
    const btn = h('button', { type: 'button', class: 'icon more', testid: 'participant-menu-button', 'aria-haspopup': 'menu', 'aria-expanded': String(open), i18nAria: 'participantActions', i18nTitle: 'participantActions' }, icon('more'));
    btn.addEventListener('click', () => {
      this.openFor = this.openFor === p.identity ? '' : p.identity;
      for (const m of this.list.querySelectorAll<HTMLElement>('.menu')) m.hidden = true;
      for (const b of this.list.querySelectorAll<HTMLElement>('.more')) b.setAttribute('aria-expanded', 'false');
      items.hidden = this.openFor !== p.identity;
      btn.setAttribute('aria-expanded', String(!items.hidden));
    });
    return h('div', { class: 'pmenu', testid: 'participant-menu', 'data-identity': p.identity }, btn, items);
  }
}
