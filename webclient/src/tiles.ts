// One tile: a participant's camera (or initials when it is off) or a screen share, with name,
// microphone state, raised hand, connection quality and the speaking highlight.

import { ConnectionQuality, type Participant, Track, type VideoTrack } from 'livekit-client';
import { clear, h, setLabel, setText } from './dom';
import { icon, setIcon } from './icons';
import { badgeRole, type Role, roleKey } from './control';
import { lockKey, type TileLock } from './e2ee';
import type { Key } from './i18n';
import { avatarHue, initials } from './names';

const qualityKey: Record<string, Key> = {
  [ConnectionQuality.Excellent]: 'qualityExcellent',
  [ConnectionQuality.Good]: 'qualityGood',
  [ConnectionQuality.Poor]: 'qualityPoor',
  [ConnectionQuality.Lost]: 'qualityLost',
  [ConnectionQuality.Unknown]: 'qualityUnknown',
};

export class Tile {
  readonly el: HTMLElement;
  private video = h('video', { autoplay: true, muted: true, playsinline: true });
  private avatar = h('div', { class: 'avatar', 'aria-hidden': 'true' });
  private name = h('span', { class: 'name' });
  private mic = h('span', { class: 'mic-state', role: 'img' });
  private hand = h('span', { class: 'hand', testid: 'hand-raised', role: 'img', hidden: true });
  private role = h('span', { class: 'badge tile-role', testid: 'tile-role', hidden: true });
  private quality = h('span', { class: 'quality', role: 'img' }, h('i'), h('i'), h('i'));
  private reaction = h('span', { class: 'reaction', 'aria-live': 'polite' });
  private pinBtn = h('button', { type: 'button', class: 'pin' });
  private lockNote = h('span', {});
  private lock = h('div', { class: 'tile-lock', testid: 'tile-e2ee', role: 'status', hidden: true }, icon('lock'), this.lockNote);
  private attached?: VideoTrack;

  constructor(
    readonly key: string,
    readonly participant: Participant,
    readonly screen: boolean,
    onPin: (key: string) => void,
    onPicture: () => void = () => undefined,
  ) {
    this.el = h(
      'div',
      { class: screen ? 'tile screen' : 'tile', testid: screen ? 'screenshare-tile' : 'participant-tile', 'data-identity': participant.identity },
      this.video,
      this.avatar,
      this.reaction,
      this.lock,
      h('div', { class: 'tile-bar' }, this.mic, this.name, this.role, this.hand, this.quality),
      this.pinBtn,
    );
    this.pinBtn.addEventListener('click', () => onPin(key));
    this.video.addEventListener('resize', () => {
      if (this.video.videoWidth > 0) onPicture();
    });
  }

  /** update refreshes everything from the participant's state. */
  update(opts: { speaking: boolean; handOrder: number; pinned: boolean; local: boolean; role: Role; spotlight: boolean; lock?: TileLock }): void {
    const p = this.participant;
    const display = p.name || p.identity;
    const pub = p.getTrackPublication(this.screen ? Track.Source.ScreenShare : Track.Source.Camera);
    const track = pub && !pub.isMuted ? (pub.track as VideoTrack | undefined) : undefined;
    if (track !== this.attached) {
      this.attached?.detach(this.video);
      this.attached = track;
      track?.attach(this.video);
    }
    this.el.classList.toggle('has-video', !!track);
    this.el.classList.toggle('speaking', opts.speaking && !this.screen);
    this.el.classList.toggle('local', opts.local);
    this.el.dataset.video = track ? 'on' : 'off';
    this.video.hidden = !track;
    this.avatar.hidden = !!track;
    this.avatar.textContent = initials(display);
    this.avatar.style.setProperty('--hue', String(avatarHue(p.identity)));
    if (this.screen) setText(this.name, 'screenOf', { name: display });
    else if (opts.local) setText(this.name, 'youName', { name: display });
    else {
      delete this.name.dataset.i18n;
      this.name.textContent = display;
    }
    const badge = this.screen ? null : badgeRole(opts.role);
    this.role.hidden = !badge;
    if (badge) {
      setText(this.role, roleKey[badge]);
      this.role.dataset.role = badge;
    }
    this.el.classList.toggle('spotlight', opts.spotlight && !this.screen);
    const lock = opts.lock ?? '';
    this.lock.hidden = lock === '';
    this.el.dataset.e2ee = lock || 'ok';
    if (lock) setText(this.lockNote, lockKey[lock]);
    const micOn = p.isMicrophoneEnabled;
    this.mic.hidden = this.screen;
    clear(this.mic);
    if (!micOn) this.mic.append(icon('micOff'));
    this.mic.dataset.muted = String(!micOn);
    if (!micOn) setLabel(this.mic, 'micMuted');
    else this.mic.removeAttribute('aria-label');
    this.hand.hidden = this.screen || opts.handOrder === 0;
    if (opts.handOrder > 0) {
      this.hand.replaceChildren(icon('hand'), String(opts.handOrder));
      this.hand.dataset.order = String(opts.handOrder);
      setLabel(this.hand, 'handRaised');
    }
    const q = p.connectionQuality;
    this.quality.dataset.q = q;
    this.quality.hidden = this.screen;
    setLabel(this.quality, qualityKey[q] ?? 'qualityUnknown');
    setLabel(this.pinBtn, opts.pinned ? 'unpin' : 'pin');
    setIcon(this.pinBtn, 'pin');
    this.pinBtn.setAttribute('aria-pressed', String(opts.pinned));
  }

  /** react shows an emoji on the tile for a few seconds. */
  react(emoji: string): void {
    const e = h('span', {}, emoji);
    this.reaction.append(e);
    setTimeout(() => e.remove(), 3000);
  }

  size(w: number, hgt: number): void {
    this.el.style.width = `${w}px`;
    this.el.style.height = `${hgt}px`;
  }

  destroy(): void {
    this.attached?.detach(this.video);
    this.el.remove();
  }
}
