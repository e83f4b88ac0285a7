// The meeting: connecting, the stage, the controls, chat, people, hands and reactions, and what
// happens when the connection or the room goes away.

import {
  ConnectionError,
  ConnectionErrorReason,
  ConnectionState,
  DisconnectReason,
  type LocalAudioTrack,
  type LocalVideoTrack,
  type Participant,
  ParticipantEvent,
  type RemoteParticipant,
  type RemoteTrack,
  Room,
  RoomEvent,
  Track,
  VideoPresets,
} from 'livekit-client';
import {
  ApiError,
  control,
  deleteRecording,
  exchange,
  fetchRecording,
  getControl,
  type JoinAnswer,
  type LobbyTicket,
  leaveLobby,
  listRecordings,
  lobbyPoll,
  makeInvite,
  meetingLink,
  tokenClaims,
} from './api';
import {
  type Action,
  type Controls,
  controlsFor,
  defaultSettings,
  LOBBY_TOPIC,
  newArrivals,
  NOTICE_TOPIC,
  noticeText,
  onStage,
  parseLobby,
  parseNotice,
  parseSettings,
  requestFor,
  type Role,
  roleOf,
  type Settings,
  SETTINGS_TOPIC,
  type Waiting,
} from './control';
import { confirm } from './dialog';
import { beep, HostPanel } from './hostpanel';
import { CHAT_TOPIC, ChatPanel, decodeChat, encodeChat } from './chat';
import { DevicePanel } from './devicepanel';
import { isKeyError, Keys, lockOf } from './e2ee';
import { problemKey, problemOf } from './devices';
import { clear, h, setLabel, setText, translate } from './dom';
import { icon, setIcon } from './icons';
import type { Key } from './i18n';
import { chooseLayout, handOrder, type Item, type Mode } from './layout';
import { HAND_ATTR, handTime, PeoplePanel } from './people';
import { saveBlob, saveLink } from './recordings';
import type { Choice } from './prejoin';
import { store } from './storage';
import { Tile } from './tiles';

const REACTION_TOPIC = 'hop-reaction';
const REACTIONS = ['👍', '👏', '❤️', '😂', '🎉'];
// How long the app keeps trying to get back into a meeting the node lost (a restart).
const REJOIN_FOR_MS = 90_000;
// After Reconnected, the room is drawn again from its state every RECONCILE_EVERY_MS until it has
// stayed connected for RECONCILE_STABLE_MS (at most RECONCILE_FOR_MS): see reconcileAfterReconnect.
const RECONCILE_EVERY_MS = 250;
const RECONCILE_STABLE_MS = 3000;
const RECONCILE_FOR_MS = 15_000;

export type EndReason = 'left' | 'ended' | 'kicked' | 'duplicate' | 'lost';

/** JoinFailure is a join that did not happen, with the message for the pre-join page. */
export class JoinFailure extends Error {
  constructor(
    readonly key: Key,
    readonly params?: Record<string, string | number>,
    readonly code = '',
  ) {
    super(key);
  }
}

/** failureOf turns an exchange or connect error into words. */
export function failureOf(err: unknown): JoinFailure {
  if (err instanceof JoinFailure) return err;
  if (err instanceof ApiError) {
    const byCode: Record<string, Key> = {
      invite_invalid: 'errInviteInvalid',
      invite_expired: 'errInviteExpired',
      invite_required: 'errInviteRequired',
      name_required: 'errNameRequired',
      room_invalid: 'errRoomInvalid',
      rate_limited: 'errRateLimited',
      unreachable: 'errUnreachable',
      password_required: 'errPasswordRequired',
      password_wrong: 'errPasswordWrong',
      meeting_locked: 'errMeetingLocked',
      meeting_full: 'errRoomFull',
      removed: 'errRemoved',
      lobby_denied: 'errLobbyDenied',
      lobby_timeout: 'errLobbyTimeout',
    };
    return new JoinFailure(byCode[err.code] ?? 'errJoin', { seconds: err.retryAfter || 60 }, err.code);
  }
  if (err instanceof ConnectionError) {
    if (err.reason === ConnectionErrorReason.NotAllowed) {
      // The node's refusal text is matched, never shown.
      if (/full/i.test(err.message)) return new JoinFailure('errRoomFull', undefined, 'meeting_full');
      if (/locked/i.test(err.message)) return new JoinFailure('errMeetingLocked', undefined, 'meeting_locked');
      if (/removed/i.test(err.message)) return new JoinFailure('errRemoved', undefined, 'removed');
      return new JoinFailure('errNotAllowed');
    }
    if (err.reason === ConnectionErrorReason.Cancelled) return new JoinFailure('errJoin');
    return new JoinFailure('errUnreachable');
  }
  return new JoinFailure('errJoin');
}

export interface MeetingSession {
  room: string;
  invite?: string;
  dev: boolean;
  /** onWaiting is told when the node puts this person in the lobby; calling leave gives up. */
  onWaiting?: (leave: () => void) => void;
}

function isTicket(a: JoinAnswer | LobbyTicket): a is LobbyTicket {
  return (a as LobbyTicket).status === 'waiting';
}

export class Meeting {
  readonly el: HTMLElement;
  private room!: Room;
  private answer!: JoinAnswer;
  private tiles = new Map<string, Tile>();
  private spokeAt = new Map<string, number>();
  private mode: Mode = 'grid';
  private pinned?: string;
  private page = 0;
  private leaving = false;
  private rejoining = false;
  private panel: 'chat' | 'people' | 'host' | 'devices' | null = null;
  private settings: Settings = defaultSettings;
  private waiting: Waiting[] = [];
  private controls?: Controls;
  // The control state is read once per time this person becomes a moderator (retried while the
  // node does not know them in the room yet).
  private controlLoaded = false;
  private controlRetryAt = 0;
  private lobbyAbort?: AbortController;
  private micWanted: boolean;
  private camWanted: boolean;

  private stage = h('div', { class: 'stage', testid: 'stage' });
  private main = h('div', { class: 'main-tile', testid: 'main-stage' });
  private grid = h('div', { class: 'tiles' });
  private pager = h('div', { class: 'pager', hidden: true });
  private audioSink = h('div', { hidden: true });
  private banner = h('div', { class: 'banner', testid: 'reconnecting-banner', role: 'status', hidden: true, i18n: 'reconnecting' });
  private notice = h('div', { class: 'banner notice', role: 'alert', hidden: true });
  private hopNotice = h('div', { class: 'banner notice hop', testid: 'meeting-notice', role: 'status', hidden: true });
  private knock = h('div', { class: 'banner knock', testid: 'lobby-knock', role: 'status', hidden: true });
  private noticeTimer = 0;
  private toast = h('div', { class: 'toast', role: 'status', hidden: true });
  private micBtn = h('button', { type: 'button', testid: 'mic-toggle', class: 'round', onclick: () => void this.toggleMic() });
  private camBtn = h('button', { type: 'button', testid: 'camera-toggle', class: 'round', onclick: () => void this.toggleCam() });
  private shareBtn = h('button', { type: 'button', testid: 'screenshare-toggle', class: 'round', onclick: () => void this.toggleShare() }, icon('screen'));
  private handBtn = h('button', { type: 'button', testid: 'raise-hand', class: 'round', onclick: () => void this.toggleHand() }, icon('hand'));
  private reactBtn = h('button', { type: 'button', class: 'round', i18nAria: 'reactions', i18nTitle: 'reactions', 'aria-haspopup': 'true', onclick: () => this.toggleReactions() }, icon('smile'));
  private reactMenu = h('div', { class: 'popover reactions', role: 'menu', hidden: true });
  private chatBtn = h('button', { type: 'button', testid: 'chat-toggle', class: 'round', i18nAria: 'chat', i18nTitle: 'chat', onclick: () => this.togglePanel('chat') }, icon('chat'));
  private unreadBadge = h('span', { class: 'badge-count', testid: 'chat-unread', hidden: true });
  private peopleBtn = h('button', { type: 'button', testid: 'participants-toggle', class: 'round', i18nAria: 'people', i18nTitle: 'people', onclick: () => this.togglePanel('people') }, icon('people'));
  private peopleCount = h('span', { class: 'badge-count muted' });
  private layoutBtn = h('button', { type: 'button', testid: 'layout-toggle', class: 'round', onclick: () => this.toggleLayout() });
  private hostBtn = h('button', { type: 'button', testid: 'host-panel-toggle', class: 'round', hidden: true, i18nAria: 'hostPanel', i18nTitle: 'hostPanel', onclick: () => this.togglePanel('host') }, icon('shield'));
  private waitingBadge = h('span', { class: 'badge-count', testid: 'lobby-count', hidden: true });
  private host: HostPanel;
  private devicesBtn = h('button', { type: 'button', testid: 'device-settings', class: 'round', i18nAria: 'deviceSettings', i18nTitle: 'deviceSettings', 'aria-expanded': 'false', onclick: () => this.togglePanel('devices') }, icon('gear'));
  private devices: DevicePanel;
  // End-to-end encryption: this connection's keys, and who sent frames they did not decrypt.
  private keys?: Keys;
  private undecryptable = new Set<string>();
  private reconcileRun = 0;
  // Remote participants whose own track events the meeting follows (see watch).
  private watched = new WeakSet<RemoteParticipant>();
  private e2eeStatus = h('div', { class: 'e2ee-status', testid: 'e2ee-status', role: 'status', hidden: true }, icon('lock'), h('span', { i18n: 'e2eeOn' }));
  private inviteBtn = h('button', { type: 'button', testid: 'copy-invitation', class: 'round', i18nAria: 'copyInvite', i18nTitle: 'copyInvite', onclick: () => void this.copyInvitation() }, icon('link'));
  private audioBtn = h('button', { type: 'button', class: 'primary', hidden: true, i18n: 'enableAudio', onclick: () => void this.room.startAudio() });
  private chat: ChatPanel;
  private people: PeoplePanel;
  private side = h('div', { class: 'side', hidden: true });
  private title = h('span', { class: 'meeting-title' });
  private recBadge = h('span', { class: 'rec', testid: 'recording-indicator', role: 'status', hidden: true }, h('span', { class: 'rec-dot', 'aria-hidden': 'true' }), h('span', { i18n: 'recording' }));
  private resize = new ResizeObserver(() => this.layout());

  private constructor(
    private session: MeetingSession,
    private choice: Choice,
    private onEnd: (r: EndReason) => void,
  ) {
    this.micWanted = choice.mic;
    this.camWanted = choice.cam;
    this.chat = new ChatPanel(
      (text) => this.sendChat(text),
      (n) => {
        this.unreadBadge.hidden = n === 0;
        this.unreadBadge.textContent = String(n);
        setLabel(this.unreadBadge, 'unread');
      },
      () => this.togglePanel(null),
    );
    this.people = new PeoplePanel(() => this.togglePanel(null));
    this.devices = new DevicePanel(() => this.room, () => this.togglePanel(null));
    this.host = new HostPanel(
      (body) => this.act(body),
      () => this.togglePanel(null),
      () => this.myRole() === 'host',
      {
        list: () => listRecordings(this.answer.room, this.answer.token),
        download: async (r, f) => {
          // A stored file comes with its own signed link; one kept on the node needs the token.
          if (f.link) saveLink(f.link, f.name);
          else saveBlob(await fetchRecording(this.answer.room, r.id, f.name, this.answer.token), f.name);
        },
        remove: (id) => deleteRecording(this.answer.room, id, this.answer.token),
      },
    );
    this.hostBtn.append(this.waitingBadge);
    for (const e of REACTIONS) this.reactMenu.append(h('button', { type: 'button', role: 'menuitem', 'aria-label': e, onclick: () => void this.react(e) }, e));
    const leave = h('button', { type: 'button', testid: 'leave-button', class: 'round danger', i18nAria: 'leave', i18nTitle: 'leave', onclick: () => void this.leave() }, icon('leave'));
    this.chatBtn.append(this.unreadBadge);
    this.peopleBtn.append(this.peopleCount);
    this.stage.append(this.main, this.grid, this.pager);
    this.el = h(
      'section',
      { class: 'meeting' },
      this.e2eeStatus,
      this.recBadge,
      this.banner,
      this.notice,
      this.hopNotice,
      this.knock,
      h('div', { class: 'meeting-body' }, this.stage, this.side),
      h(
        'nav',
        { class: 'controls', i18nAria: 'controls' },
        h('div', { class: 'controls-left' }, this.title),
        h('div', { class: 'controls-mid' }, this.micBtn, this.camBtn, this.shareBtn, this.handBtn, h('span', { class: 'pop-anchor' }, this.reactBtn, this.reactMenu), leave),
        h('div', { class: 'controls-right' }, this.hostBtn, this.chatBtn, this.peopleBtn, this.devicesBtn, this.layoutBtn, this.inviteBtn, this.audioBtn),
      ),
      this.toast,
      this.audioSink,
    );
    this.resize.observe(this.stage);
    document.addEventListener('keydown', this.onKey);
  }

  /** start exchanges the invitation, connects and publishes; a JoinFailure says why not. */
  static async start(session: MeetingSession, choice: Choice, onEnd: (r: EndReason) => void): Promise<Meeting> {
    const m = new Meeting(session, choice, onEnd);
    try {
      await m.connect(choice.video, choice.audio);
    } catch (err) {
      // A join that failed is not a meeting that ended: its room's end must not show the end page.
      m.leaving = true;
      m.destroy();
      throw failureOf(err);
    }
    return m;
  }

  get roomName(): string {
    return this.answer.room;
  }

  /** myRole is the role the node gives this person now (it changes live). */
  myRole(): Role {
    const attrs = this.room?.localParticipant.attributes;
    return attrs && attrs['hop.role'] ? roleOf(attrs) : roleOf({ 'hop.role': this.answer?.role ?? '' });
  }

  private async connect(video?: LocalVideoTrack, audio?: LocalAudioTrack): Promise<void> {
    performance.mark('hop:join');
    const ans = await exchange({ invite: this.session.invite, room: this.session.invite ? undefined : this.session.room, name: this.choice.name, password: this.choice.password || undefined, device: store.deviceKey() });
    this.answer = isTicket(ans) ? await this.waitInLobby(ans.ticket) : ans;
    this.keys?.stop();
    this.keys = this.choice.e2ee ? await Keys.fromPassphrase(this.choice.e2ee) : undefined;
    this.undecryptable.clear();
    const room = new Room({
      adaptiveStream: true,
      dynacast: true,
      audioOutput: this.choice.speaker ? { deviceId: this.choice.speaker } : undefined,
      videoCaptureDefaults: { resolution: VideoPresets.h720.resolution },
      publishDefaults: { simulcast: true, videoCodec: 'vp8', screenShareEncoding: { maxBitrate: 2_500_000, maxFramerate: 15 } },
      // Media only: chat and the node's own packets stay readable by the node (its chat history
      // and meeting control).
      e2ee: this.keys?.options,
    });
    this.room = room;
    this.wire(room);
    this.devices.wire(room);
    // Before connecting, so that nothing is ever published in the clear.
    if (this.keys) await room.setE2EEEnabled(true);
    performance.mark('hop:token');
    await room.connect(this.answer.url, this.answer.token);
    // Marks for measuring a join (the app tests read them).
    performance.mark('hop:connected');
    this.title.textContent = this.answer.room;
    // Those who join a meeting being recorded are told so too.
    if (room.isRecording) this.showRecording(true, true);
    const canPublish = room.localParticipant.permissions?.canPublish ?? this.answer.role !== 'viewer';
    const jobs: Promise<unknown>[] = [];
    if (canPublish && this.camWanted) {
      jobs.push(video ? room.localParticipant.publishTrack(video, { source: Track.Source.Camera }) : room.localParticipant.setCameraEnabled(true).catch((e) => this.mediaNotice(e, 'camera')));
    }
    if (canPublish && this.micWanted) {
      jobs.push(audio ? room.localParticipant.publishTrack(audio, { source: Track.Source.Microphone }) : room.localParticipant.setMicrophoneEnabled(true).catch((e) => this.mediaNotice(e, 'mic')));
    }
    if (!this.camWanted) video?.stop();
    if (!this.micWanted) audio?.stop();
    await Promise.all(jobs);
    for (const p of room.remoteParticipants.values()) this.watch(p);
    this.sync();
    if (!canPublish) this.say('viewerHint');
  }

  /** waitInLobby polls the node until a host lets this person in; a refusal, a timeout or
   *  leaving the lobby throws ApiError. */
  private async waitInLobby(ticket: string): Promise<JoinAnswer> {
    const abort = new AbortController();
    this.lobbyAbort = abort;
    this.session.onWaiting?.(() => {
      abort.abort();
      leaveLobby(ticket);
    });
    for (;;) {
      let r: Awaited<ReturnType<typeof lobbyPoll>>;
      try {
        r = await lobbyPoll(ticket, abort.signal);
      } catch (err) {
        // A dropped long poll is asked again; only the node's answers end the wait.
        if (err instanceof ApiError && err.code === 'unreachable' && !abort.signal.aborted) {
          await new Promise((res) => setTimeout(res, 2000));
          continue;
        }
        throw err;
      }
      // Admitted: the answer carries the token (the node sends /api/join's answer as it is).
      if (r.token && r.url) {
        const c = tokenClaims(r.token);
        const role = roleOf({ 'hop.role': r.role ?? c.role ?? '' });
        return { token: r.token, url: r.url, room: r.room ?? c.room ?? this.session.room, identity: r.identity ?? c.identity ?? '', role };
      }
    }
  }

  private wire(room: Room) {
    const sync = () => this.sync();
    room
      .on(RoomEvent.ParticipantConnected, (p: RemoteParticipant) => {
        this.watch(p);
        sync();
      })
      .on(RoomEvent.ParticipantDisconnected, (p: RemoteParticipant) => {
        this.spokeAt.delete(p.identity);
        this.undecryptable.delete(p.identity);
        sync();
      })
      .on(RoomEvent.TrackPublished, sync)
      .on(RoomEvent.TrackUnpublished, sync)
      .on(RoomEvent.TrackSubscribed, (track: RemoteTrack) => {
        if (track.kind === Track.Kind.Audio) this.attachAudio(track);
        else performance.mark('hop:video-subscribed');
        sync();
      })
      .on(RoomEvent.TrackUnsubscribed, (track: RemoteTrack) => {
        if (track.kind === Track.Kind.Audio) track.detach().forEach((e) => e.remove());
        sync();
      })
      .on(RoomEvent.TrackMuted, sync)
      .on(RoomEvent.TrackUnmuted, sync)
      .on(RoomEvent.LocalTrackPublished, sync)
      .on(RoomEvent.LocalTrackUnpublished, sync)
      .on(RoomEvent.ParticipantNameChanged, sync)
      .on(RoomEvent.ParticipantAttributesChanged, sync)
      .on(RoomEvent.ParticipantPermissionsChanged, sync)
      .on(RoomEvent.ConnectionQualityChanged, sync)
      .on(RoomEvent.ParticipantEncryptionStatusChanged, sync)
      .on(RoomEvent.EncryptionError, (err: Error, p?: Participant) => {
        // The worker drops frames it cannot decrypt: the tile says why it stays dark.
        if (!p || p === room.localParticipant || !isKeyError(err) || this.undecryptable.has(p.identity)) return;
        this.undecryptable.add(p.identity);
        sync();
      })
      .on(RoomEvent.ActiveSpeakersChanged, (speakers: Participant[]) => {
        const now = Date.now();
        for (const s of speakers) this.spokeAt.set(s.identity, now);
        sync();
      })
      .on(RoomEvent.AudioPlaybackStatusChanged, () => {
        this.audioBtn.hidden = room.canPlaybackAudio;
      })
      .on(RoomEvent.RecordingStatusChanged, (on: boolean) => this.showRecording(on, true))
      .on(RoomEvent.Reconnecting, () => (this.banner.hidden = false))
      .on(RoomEvent.SignalReconnecting, () => (this.banner.hidden = false))
      .on(RoomEvent.Reconnected, () => {
        if (!this.rejoining) this.banner.hidden = true;
        this.reconcileAfterReconnect(room);
      })
      .on(RoomEvent.DataReceived, (payload, participant, _kind, topic, _enc, identity) => {
        const from = participant?.identity ?? identity ?? '';
        // Meeting control comes from the node only: a participant's packet on these topics is
        // someone pretending.
        if (topic === SETTINGS_TOPIC || topic === NOTICE_TOPIC || topic === LOBBY_TOPIC) {
          if (!participant && !identity) this.fromNode(topic, payload);
          return;
        }
        if (topic === CHAT_TOPIC) {
          const m = decodeChat(payload);
          // The name the room knows wins; the one in the message only names someone who left.
          if (m) this.chat.add({ ...m, from: participant?.name || m.name || from, identity: from, local: from === room.localParticipant.identity });
        } else if (topic === REACTION_TOPIC) {
          const e = new TextDecoder().decode(payload);
          if (REACTIONS.includes(e)) this.tiles.get(from)?.react(e);
        }
      })
      .on(RoomEvent.ChatMessage, (m, participant) => {
        const from = participant?.identity ?? '';
        this.chat.add({ id: m.id, timestamp: m.timestamp, message: m.message, from: participant?.name || from, identity: from, local: participant === room.localParticipant });
      })
      .on(RoomEvent.Disconnected, (reason?: DisconnectReason) => void this.disconnected(room, reason));
  }

  /** watch follows a remote participant's own track events: unlike the room's, livekit-client
   *  never holds them back after a reconnect (see reconcileAfterReconnect). */
  private watch(p: RemoteParticipant) {
    if (this.watched.has(p)) return;
    this.watched.add(p);
    p.on(ParticipantEvent.TrackSubscribed, (track: RemoteTrack) => {
      if (p !== this.room?.remoteParticipants.get(p.identity)) return;
      if (track.kind === Track.Kind.Audio) this.attachAudio(track);
      this.sync();
    });
  }

  /** attachAudio plays a remote audio track, once. */
  private attachAudio(track: RemoteTrack) {
    if (track.attachedElements.some((e) => e.parentElement === this.audioSink)) return;
    this.audioSink.append(track.attach());
  }

  /** reconcileAfterReconnect draws the room from its state (tiles, remote audio) until it has
   *  stayed connected a while. livekit-client 2.23 emits Reconnected after a full reconnect as soon
   *  as the new PeerConnection connects, while its engine still waits out a 2 s minimum; the room
   *  events of that window (TrackSubscribed, ParticipantConnected, …) stay buffered for a next
   *  Reconnected that never comes, though the tracks are subscribed. Nothing announces the end of
   *  that window, hence the bounded poll. */
  private reconcileAfterReconnect(room: Room) {
    const run = ++this.reconcileRun;
    const deadline = Date.now() + RECONCILE_FOR_MS;
    let connectedSince = 0;
    const pass = () => {
      if (room !== this.room || run !== this.reconcileRun || this.leaving) return;
      for (const p of room.remoteParticipants.values()) {
        this.watch(p);
        for (const pub of p.audioTrackPublications.values()) if (pub.track && pub.isSubscribed) this.attachAudio(pub.track);
      }
      this.sync();
      const now = Date.now();
      if (room.state !== ConnectionState.Connected) connectedSince = 0;
      else connectedSince ||= now;
      if ((connectedSince && now - connectedSince >= RECONCILE_STABLE_MS) || now >= deadline) return;
      window.setTimeout(pass, RECONCILE_EVERY_MS);
    };
    pass();
  }

  private async disconnected(room: Room, reason?: DisconnectReason) {
    // While rejoining, a failed attempt's room ends here too: the loop deals with it, and a
    // second loop would join a second time.
    if (room !== this.room || this.leaving || this.rejoining) return;
    switch (reason) {
      case DisconnectReason.CLIENT_INITIATED:
        return this.end('left');
      case DisconnectReason.ROOM_DELETED:
      case DisconnectReason.ROOM_CLOSED:
        return this.end('ended');
      case DisconnectReason.PARTICIPANT_REMOVED:
        return this.end('kicked');
      case DisconnectReason.DUPLICATE_IDENTITY:
        return this.end('duplicate');
    }
    // The node went away (a restart) or the signalling could not resume: come back by
    // ourselves for a while, with a fresh token from the same invitation.
    await this.rejoin();
  }

  private async rejoin() {
    this.rejoining = true;
    this.banner.hidden = false;
    const deadline = Date.now() + REJOIN_FOR_MS;
    for (const t of this.tiles.values()) t.destroy();
    this.tiles.clear();
    clear(this.audioSink);
    while (!this.leaving && Date.now() < deadline) {
      try {
        await this.connect();
        this.rejoining = false;
        this.banner.hidden = true;
        return;
      } catch (err) {
        await this.room?.disconnect();
        const f = failureOf(err);
        if (['errInviteExpired', 'errInviteInvalid', 'errRoomFull', 'errRemoved', 'errMeetingLocked', 'errLobbyDenied', 'errLobbyTimeout', 'errPasswordWrong', 'errPasswordRequired'].includes(f.key)) break;
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    this.rejoining = false;
    if (!this.leaving) this.end('lost');
  }

  private end(r: EndReason) {
    if (this.leaving && r !== 'left') return;
    this.leaving = true;
    this.destroy();
    this.onEnd(r);
  }

  async leave(): Promise<void> {
    this.leaving = true;
    await this.room?.disconnect();
    this.destroy();
    this.onEnd('left');
  }

  destroy(): void {
    this.lobbyAbort?.abort();
    this.keys?.stop();
    this.host.setOpen(false);
    clearTimeout(this.noticeTimer);
    this.resize.disconnect();
    document.removeEventListener('keydown', this.onKey);
    for (const t of this.tiles.values()) t.destroy();
    this.tiles.clear();
    if (this.room && this.room.state !== ConnectionState.Disconnected) void this.room.disconnect();
  }

  private onKey = (e: KeyboardEvent) => {
    const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement;
    const mod = e.ctrlKey || e.metaKey;
    const k = e.key.toLowerCase();
    if ((mod && k === 'd') || (!mod && !typing && !e.altKey && k === 'm')) {
      e.preventDefault();
      void this.toggleMic();
    } else if ((mod && k === 'e') || (!mod && !typing && !e.altKey && k === 'v')) {
      e.preventDefault();
      void this.toggleCam();
    } else if (k === 'escape' && this.panel) {
      this.togglePanel(null);
    }
  };

  // ---------- controls ----------

  private mediaNotice(err: unknown, kind: 'camera' | 'mic') {
    setText(this.notice, problemKey(problemOf(err), kind));
    this.notice.hidden = false;
    setTimeout(() => (this.notice.hidden = true), 8000);
  }

  private async toggleMic() {
    if (!this.controls?.media) return;
    const on = !this.room.localParticipant.isMicrophoneEnabled;
    if (on && this.controls.unmuteBlocked) {
      this.say('unmuteBlockedWhy');
      return;
    }
    try {
      await this.room.localParticipant.setMicrophoneEnabled(on);
      this.micWanted = on;
    } catch (err) {
      this.mediaNotice(err, 'mic');
    }
    this.sync();
  }

  private async toggleCam() {
    if (!this.controls?.media) return;
    const on = !this.room.localParticipant.isCameraEnabled;
    try {
      await this.room.localParticipant.setCameraEnabled(on);
      this.camWanted = on;
    } catch (err) {
      this.mediaNotice(err, 'camera');
    }
    this.sync();
  }

  private async toggleShare() {
    const on = !this.room.localParticipant.isScreenShareEnabled;
    if (on && this.controls?.share !== 'shown') return;
    try {
      await this.room.localParticipant.setScreenShareEnabled(on, { audio: true, selfBrowserSurface: 'include', surfaceSwitching: 'include', systemAudio: 'include' });
    } catch (err) {
      // Closing the browser's picker is a choice, not an error.
      if (problemOf(err) !== 'permission') {
        setText(this.notice, 'errScreenShare');
        this.notice.hidden = false;
        setTimeout(() => (this.notice.hidden = true), 6000);
      }
    }
    this.sync();
  }

  private async toggleHand() {
    const lp = this.room.localParticipant;
    const up = handTime(lp) > 0;
    await lp.setAttributes({ [HAND_ATTR]: up ? '' : String(Date.now()) });
    this.sync();
  }

  private toggleReactions() {
    this.reactMenu.hidden = !this.reactMenu.hidden;
    this.reactBtn.setAttribute('aria-expanded', String(!this.reactMenu.hidden));
  }

  private async react(emoji: string) {
    this.reactMenu.hidden = true;
    this.tiles.get(this.room.localParticipant.identity)?.react(emoji);
    await this.room.localParticipant.publishData(new TextEncoder().encode(emoji), { reliable: false, topic: REACTION_TOPIC });
  }

  private toggleLayout() {
    this.mode = this.mode === 'grid' ? 'speaker' : 'grid';
    this.pinned = undefined;
    this.sync();
  }

  private togglePanel(p: 'chat' | 'people' | 'host' | 'devices' | null) {
    this.panel = this.panel === p ? null : p;
    clear(this.side);
    this.side.hidden = this.panel === null;
    this.chat.setOpen(this.panel === 'chat');
    if (this.panel === 'chat') this.side.append(this.chat.el);
    if (this.panel === 'people') this.side.append(this.people.el);
    if (this.panel === 'host') this.side.append(this.host.el);
    if (this.panel === 'devices') this.side.append(this.devices.el);
    // A panel kept aside missed any language switch made while it was closed.
    translate(this.side);
    this.host.setOpen(this.panel === 'host');
    this.devices.setOpen(this.panel === 'devices');
    this.devicesBtn.setAttribute('aria-expanded', String(this.panel === 'devices'));
    this.hostBtn.setAttribute('aria-expanded', String(this.panel === 'host'));
    this.chatBtn.setAttribute('aria-expanded', String(this.panel === 'chat'));
    this.peopleBtn.setAttribute('aria-expanded', String(this.panel === 'people'));
    this.sync();
  }

  private async sendChat(text: string) {
    const lp = this.room.localParticipant;
    const { payload, id, timestamp } = encodeChat(text, lp.name || lp.identity);
    await lp.publishData(payload, { reliable: true, topic: CHAT_TOPIC });
    this.chat.add({ id, timestamp, message: text, from: lp.name || lp.identity, identity: lp.identity, local: true });
  }

  private async copyInvitation() {
    let link = meetingLink(this.answer.room, this.session.invite);
    try {
      const host = this.myRole() === 'host';
      if (host || this.session.dev) {
        const { invite } = await makeInvite(this.answer.room, 'participant', host ? this.answer.token : undefined);
        link = meetingLink(this.answer.room, invite);
      }
    } catch {
      // The link this tab joined with still admits the same role.
    }
    let copied = false;
    try {
      await navigator.clipboard.writeText(link);
      copied = true;
    } catch {
      copied = false;
    }
    clear(this.toast);
    const input = h('input', { testid: 'invitation-link', readonly: true, value: link, i18nAria: 'inviteLink', onfocus: (e: Event) => (e.target as HTMLInputElement).select() });
    this.toast.append(h('p', { i18n: copied ? 'inviteCopied' : 'inviteCopyHere' }), input, h('button', { type: 'button', class: 'icon', i18nAria: 'close', onclick: () => (this.toast.hidden = true) }, icon('close')));
    // The link never carries the passphrase: the host is reminded to send it another way.
    if (this.keys) this.toast.append(h('p', { class: 'hint', testid: 'invite-e2ee-note', i18n: 'e2eeInviteNote' }));
    this.toast.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = window.setTimeout(() => (this.toast.hidden = true), 30_000);
  }
  private toastTimer = 0;

  // ---------- meeting control ----------

  /** fromNode handles the node's own packets: settings, notices, the lobby queue. */
  private fromNode(topic: string, payload: Uint8Array) {
    if (topic === SETTINGS_TOPIC) {
      const s = parseSettings(payload);
      if (!s) return;
      this.applySettings(s);
    } else if (topic === NOTICE_TOPIC) {
      const n = parseNotice(payload);
      const text = n && noticeText(n);
      if (!n || !text) return;
      // Whoever runs the meeting is not held by the unmute rule, so it is not news to them.
      if (this.controls?.hostPanel && (n.code === 'unmute-allowed' || n.code === 'unmute-blocked')) return;
      this.say(text.key, text.params, n.code);
    } else if (topic === LOBBY_TOPIC) {
      const w = parseLobby(payload);
      if (w) this.setWaiting(w);
    }
  }

  private applySettings(s: Settings) {
    this.settings = s;
    this.host.setSettings(s);
    // The meeting element carries the settings it follows (the app tests wait on them).
    const d = this.el.dataset;
    d.lobby = String(s.lobby);
    d.locked = String(s.locked);
    d.hasPassword = String(s.hasPassword);
    d.chat = String(s.chat);
    d.unmute = s.unmute;
    d.screenShare = s.screenShare;
    this.sync();
  }

  private setWaiting(w: Waiting[]) {
    const arrived = newArrivals(this.waiting, w);
    this.waiting = w;
    this.host.setWaiting(w);
    this.waitingBadge.hidden = w.length === 0;
    this.waitingBadge.textContent = String(w.length);
    if (w.length === 0) this.knock.hidden = true;
    if (arrived.length === 0 || !this.controls?.hostPanel) return;
    // Someone knocked: a notice with a way to the queue, and a short sound.
    clear(this.knock);
    const text = h('span', {});
    if (w.length === 1) setText(text, 'knock', { name: arrived[0].name });
    else setText(text, 'knockMany', { n: w.length });
    const view = h('button', { type: 'button', testid: 'lobby-knock-view', i18n: 'knockView', onclick: () => {
      this.knock.hidden = true;
      if (this.panel !== 'host') this.togglePanel('host');
    } });
    this.knock.append(text, view);
    this.knock.hidden = false;
    beep();
  }

  /** loadControl reads the settings and the queue when this person becomes a host or cohost. */
  private async loadControl() {
    this.controlLoaded = true;
    try {
      const st = await getControl(this.answer.room, this.answer.token);
      this.applySettings(st.settings);
      this.setWaiting(st.waiting);
    } catch {
      this.controlLoaded = false;
      this.controlRetryAt = Date.now() + 3000;
    }
  }

  /** act asks the node to do one control action; refusals are said, not thrown. */
  private async act(body: Record<string, unknown>): Promise<void> {
    try {
      await control(this.answer.room, this.answer.token, body);
    } catch (err) {
      const forbidden = err instanceof ApiError && (err.status === 401 || err.status === 403);
      const noRecorder = err instanceof ApiError && err.code === 'recording_unavailable';
      this.say(forbidden ? 'actForbidden' : noRecorder ? 'recordingUnavailable' : 'actFailed');
      throw err;
    }
  }

  private async menuAction(a: Action, p: Participant) {
    const name = p.name || p.identity;
    let body = requestFor(a, p.identity, { spotlighted: this.settings.spotlight === p.identity, stage: onStage(p.attributes) });
    if (a === 'remove-participant') {
      const r = await confirm({ text: 'removeConfirm', params: { name }, ok: 'confirmRemove', check: 'removeBar', checkTestid: 'remove-bar', testid: 'remove-confirm' });
      if (!r.ok) return;
      body = { ...body, bar: r.checked };
    } else if (a === 'rename') {
      const r = await confirm({ text: 'actRename', ok: 'save', danger: false, input: { label: 'renameLabel', value: name, testid: 'rename-input' }, testid: 'rename-dialog' });
      if (!r.ok || !r.value || r.value === name) return;
      body = { ...body, name: r.value };
    } else if (a === 'set-role-host' && this.myRole() === 'host') {
      const r = await confirm({ text: 'handOverConfirm', params: { name }, ok: 'confirmHandOver', danger: false, testid: 'handover-confirm' });
      if (!r.ok) return;
    }
    await this.act(body).catch(() => undefined);
  }

  /** showRecording shows whether the meeting is being recorded; notify also says so in words. */
  private showRecording(on: boolean, notify: boolean) {
    this.recBadge.hidden = !on;
    this.host.setRecording(on);
    if (notify) this.say(on ? 'recordingStarted' : 'recordingStopped');
  }

  /** say shows a sentence about what happened to this person for a few seconds. */
  private say(key: Key, params?: Record<string, string | number>, code = '') {
    clear(this.hopNotice);
    const text = h('span', {});
    setText(text, key, params);
    this.hopNotice.append(text);
    this.hopNotice.dataset.code = code || key;
    if (code === 'ask-unmute' && this.controls?.media && !this.controls.unmuteBlocked && !this.room.localParticipant.isMicrophoneEnabled) {
      this.hopNotice.append(h('button', { type: 'button', class: 'primary', testid: 'notice-unmute', i18n: 'noticeUnmuteNow', onclick: () => {
        this.hopNotice.hidden = true;
        void this.toggleMic();
      } }));
    }
    this.hopNotice.hidden = false;
    clearTimeout(this.noticeTimer);
    this.noticeTimer = window.setTimeout(() => (this.hopNotice.hidden = true), 10_000);
  }

  // ---------- rendering ----------

  private participants(): Participant[] {
    return [this.room.localParticipant, ...this.room.remoteParticipants.values()];
  }

  private items(): Item[] {
    const out: Item[] = [];
    const local = this.room.localParticipant.identity;
    for (const p of this.participants()) {
      const isLocal = p.identity === local;
      const spoke = this.spokeAt.get(p.identity) ?? 0;
      out.push({ key: p.identity, identity: p.identity, screen: false, local: isLocal, lastSpokeAt: spoke });
      const sp = p.getTrackPublication(Track.Source.ScreenShare);
      if (sp && (isLocal || sp.isSubscribed)) out.push({ key: `${p.identity}:screen`, identity: p.identity, screen: true, local: isLocal, lastSpokeAt: spoke });
    }
    return out;
  }

  private tileFor(it: Item): Tile {
    let t = this.tiles.get(it.key);
    if (!t) {
      const p = this.participants().find((x) => x.identity === it.identity)!;
      t = new Tile(
        it.key,
        p,
        it.screen,
        (key) => {
          this.pinned = this.pinned === key ? undefined : key;
          this.sync();
        },
        // A picture decoded: that person's frames decrypt now (they rejoined with the passphrase).
        () => {
          if (this.undecryptable.delete(p.identity)) this.sync();
        },
      );
      this.tiles.set(it.key, t);
    }
    return t;
  }

  private sync() {
    if (!this.room) return;
    const lp = this.room.localParticipant;
    const hands = new Map<string, number>();
    for (const p of this.participants()) if (handTime(p) > 0) hands.set(p.identity, handTime(p));
    const handList = handOrder(hands);
    // What this person may do now, from their role and the meeting's settings.
    const role = this.myRole();
    const c = controlsFor(role, lp.permissions?.canPublish ?? role !== 'viewer', this.settings);
    this.controls = c;
    this.micBtn.hidden = this.camBtn.hidden = !c.media;
    this.micBtn.disabled = this.camBtn.disabled = !c.media;
    this.shareBtn.hidden = c.share === 'hidden';
    this.shareBtn.disabled = c.share !== 'shown' && !lp.isScreenShareEnabled;
    this.chat.setEnabled(c.chat);
    this.hostBtn.hidden = !c.hostPanel;
    if (!c.hostPanel) this.controlLoaded = false;
    else if (!this.controlLoaded && this.room.state === ConnectionState.Connected && Date.now() >= this.controlRetryAt) void this.loadControl();
    if (!c.hostPanel && this.panel === 'host') this.togglePanel(null);
    this.host.setCanEnd();
    // Buttons.
    const micOn = lp.isMicrophoneEnabled;
    const camOn = lp.isCameraEnabled;
    const sharing = lp.isScreenShareEnabled;
    setIcon(this.micBtn, micOn ? 'mic' : 'micOff');
    this.micBtn.classList.toggle('off', !micOn);
    this.micBtn.setAttribute('aria-pressed', String(!micOn));
    setLabel(this.micBtn, micOn ? 'micTurnOff' : c.unmuteBlocked ? 'unmuteBlockedWhy' : 'micTurnOn');
    this.micBtn.classList.toggle('blocked', !micOn && c.unmuteBlocked);
    setIcon(this.camBtn, camOn ? 'cam' : 'camOff');
    this.camBtn.classList.toggle('off', !camOn);
    this.camBtn.setAttribute('aria-pressed', String(!camOn));
    setLabel(this.camBtn, camOn ? 'camTurnOff' : 'camTurnOn');
    this.shareBtn.classList.toggle('on', sharing);
    this.shareBtn.setAttribute('aria-pressed', String(sharing));
    setLabel(this.shareBtn, sharing ? 'shareStop' : c.share === 'disabled' ? 'shareHostsOnly' : 'shareStart');
    const raised = hands.has(lp.identity);
    this.handBtn.classList.toggle('on', raised);
    this.handBtn.setAttribute('aria-pressed', String(raised));
    setLabel(this.handBtn, raised ? 'handLower' : 'handRaise');
    setLabel(this.layoutBtn, this.mode === 'grid' ? 'layoutSpeaker' : 'layoutGrid');
    setIcon(this.layoutBtn, this.mode === 'grid' ? 'speaker' : 'grid');
    this.peopleCount.textContent = String(this.participants().length);
    this.e2eeStatus.hidden = !(this.keys && this.room.isE2EEEnabled);
    // Tiles: drop those of people and shares that are gone.
    const items = this.items();
    const keys = new Set(items.map((i) => i.key));
    for (const [k, t] of this.tiles) {
      if (!keys.has(k) || !this.participants().includes(t.participant)) {
        t.destroy();
        this.tiles.delete(k);
      }
    }
    if (this.pinned && !keys.has(this.pinned)) this.pinned = undefined;
    const speaking = new Set(this.room.activeSpeakers.map((p) => p.identity));
    for (const it of items) {
      const p = this.tileFor(it);
      const who = p.participant;
      const lock = it.local ? '' : lockOf(who, !!this.keys, this.undecryptable.has(it.identity));
      p.update({ speaking: speaking.has(it.identity), handOrder: handList.indexOf(it.identity) + 1, pinned: this.pinned === it.key, local: it.local, role: roleOf(who.attributes), spotlight: this.settings.spotlight === it.identity, lock });
    }
    if (this.panel === 'people') this.people.render(this.participants(), handList, lp.identity, { me: role, spotlight: this.settings.spotlight, act: (a, p) => void this.menuAction(a, p) });
    this.layout();
  }

  private layout() {
    if (!this.room) return;
    // The stage's padding is not room for tiles.
    const w = this.stage.clientWidth - 16;
    const hgt = this.stage.clientHeight - 16;
    if (w <= 0 || hgt <= 0) return;
    // The host's spotlight shows for everyone, unless this person pinned someone themselves.
    const items = this.items();
    const spot = this.settings.spotlight && items.some((i) => i.key === this.settings.spotlight) ? this.settings.spotlight : undefined;
    const l = chooseLayout({ items, mode: this.mode, pinned: this.pinned ?? spot, width: w, height: hgt, page: this.page });
    this.page = l.page;
    this.stage.dataset.mode = l.mode;
    const shown = new Set<string>();
    if (l.mode === 'speaker' && l.main) {
      const mainTile = this.tileFor(l.main);
      const availH = Math.max(120, hgt - l.tileH - 8);
      // A camera fills a 16:9 box; a screen share takes all the room, letterboxed inside.
      if (l.main.screen) mainTile.size(w, availH);
      else mainTile.size(Math.min(w, Math.floor((availH * 16) / 9)), Math.min(availH, Math.floor((w * 9) / 16)));
      mainTile.el.classList.add('is-main');
      if (mainTile.el.parentElement !== this.main) this.main.replaceChildren(mainTile.el);
      shown.add(l.main.key);
      this.main.hidden = false;
    } else {
      this.main.hidden = true;
      this.main.replaceChildren();
    }
    this.grid.className = l.mode === 'grid' ? 'tiles grid' : 'tiles strip';
    this.grid.style.gridTemplateColumns = l.mode === 'grid' ? `repeat(${l.cols}, ${l.tileW}px)` : '';
    const want = l.tiles.map((it) => {
      const t = this.tileFor(it);
      t.el.classList.remove('is-main');
      t.size(l.tileW, l.tileH);
      shown.add(it.key);
      return t.el;
    });
    // Move only what changed, so playing videos are not restarted.
    want.forEach((e, i) => {
      if (this.grid.children[i] !== e) this.grid.insertBefore(e, this.grid.children[i] ?? null);
    });
    while (this.grid.children.length > want.length) this.grid.lastElementChild!.remove();
    for (const [k, t] of this.tiles) if (!shown.has(k) && t.el.isConnected) t.el.remove();
    // Pages.
    clear(this.pager);
    this.pager.hidden = l.pages <= 1;
    if (l.pages > 1) {
      const prev = h('button', { type: 'button', class: 'icon', i18nAria: 'pagePrev', disabled: l.page === 0, onclick: () => ((this.page = l.page - 1), this.layout()) }, '‹');
      const label = h('span', {});
      setText(label, 'pageOf', { page: l.page + 1, pages: l.pages });
      const next = h('button', { type: 'button', class: 'icon', i18nAria: 'pageNext', disabled: l.page >= l.pages - 1, onclick: () => ((this.page = l.page + 1), this.layout()) }, '›');
      this.pager.append(prev, label, next);
    }
  }

  /** relabel follows a language switch where text is not a key (chat times). */
  relabel(): void {
    this.chat.relabel();
  }
}
