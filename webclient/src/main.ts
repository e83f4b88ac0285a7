// Hop's small meeting page: join a room, publish camera and microphone, see and hear everyone,
// and chat. Every user-visible string comes from ./i18n.

import {
  ConnectionState,
  DisconnectReason,
  type LocalParticipant,
  type Participant,
  type RemoteParticipant,
  type RemoteTrack,
  Room,
  RoomEvent,
  Track,
  VideoPresets,
} from 'livekit-client';
import { type Key, type Lang, lang, setLang, t } from './i18n';
import './style.css';

const CHAT_TOPIC = 'chat';

function el<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`missing #${id}`);
  return e as T;
}

const ui = {
  roomTitle: el('room-title'),
  langToggle: el<HTMLButtonElement>('lang-toggle'),
  joinView: el('join-view'),
  joinForm: el<HTMLFormElement>('join-form'),
  devFields: el('dev-fields'),
  tokenFields: el('token-fields'),
  roomInput: el<HTMLInputElement>('room-input'),
  nameInput: el<HTMLInputElement>('name-input'),
  tokenInput: el<HTMLTextAreaElement>('token-input'),
  joinButton: el<HTMLButtonElement>('join-button'),
  joinError: el('join-error'),
  meetingView: el('meeting-view'),
  grid: el('grid'),
  micButton: el<HTMLButtonElement>('mic-button'),
  camButton: el<HTMLButtonElement>('cam-button'),
  audioButton: el<HTMLButtonElement>('audio-button'),
  leaveButton: el<HTMLButtonElement>('leave-button'),
  meetingError: el('meeting-error'),
  chatLog: el<HTMLOListElement>('chat-log'),
  chatForm: el<HTMLFormElement>('chat-form'),
  chatInput: el<HTMLInputElement>('chat-input'),
  audioSink: el('audio-sink'),
};

const params = new URLSearchParams(location.search);

// Token mode: the node is not in dev mode (or a token came in the URL), so the user supplies one.
let tokenMode = params.has('token');
let joining = false;
let room: Room | undefined;

// ---------- errors, shown in the current language and re-rendered when it changes ----------

type Shown = { key: Key; params?: Record<string, string | number> };
const shownErrors = new Map<HTMLElement, Shown>();

function showError(target: HTMLElement, key: Key | null, p?: Record<string, string | number>) {
  if (key === null) {
    shownErrors.delete(target);
    target.hidden = true;
    target.textContent = '';
    return;
  }
  shownErrors.set(target, { key, params: p });
  target.textContent = t(key, p);
  target.hidden = false;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------- language ----------

function applyI18n() {
  document.documentElement.lang = lang();
  document.title = t('pageTitle');
  document.querySelectorAll<HTMLElement>('[data-i18n]').forEach((e) => {
    e.textContent = t(e.dataset.i18n as Key);
  });
  ui.chatInput.placeholder = t('chatPlaceholder');
  ui.langToggle.textContent = t('switchLang');
  ui.joinButton.textContent = joining ? t('joining') : t('join');
  for (const [target, s] of shownErrors) target.textContent = t(s.key, s.params);
  updateControls();
  syncTiles();
}

ui.langToggle.addEventListener('click', () => {
  const next: Lang = lang() === 'vi' ? 'en' : 'vi';
  setLang(next);
  const u = new URL(location.href);
  u.searchParams.set('lang', next);
  history.replaceState(null, '', u);
  applyI18n();
});

// ---------- join ----------

function serverUrl(fromServer?: string): string {
  const q = params.get('url');
  if (q) return q;
  if (fromServer) return fromServer;
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}`;
}

function randomId(n = 6): string {
  const abc = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.getRandomValues(new Uint8Array(n));
  return Array.from(bytes, (b) => abc[b % abc.length]).join('');
}

function identityFor(name: string): string {
  const slug = name
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/đ/g, 'd')
    .replace(/Đ/g, 'D')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 24);
  return `${slug || 'guest'}-${randomId()}`;
}

class PageError extends Error {
  constructor(
    readonly key: Key,
    readonly params?: Record<string, string | number>,
  ) {
    super(key);
  }
}

/** Asks a dev-mode node for a token; null when the node is not in dev mode (404). */
async function devToken(roomName: string, name: string): Promise<{ token: string; url?: string } | null> {
  const q = new URLSearchParams({ room: roomName, identity: identityFor(name), name });
  const res = await fetch(`/api/dev-token?${q}`, { headers: { Accept: 'application/json' } });
  if (res.status === 404) return null;
  if (!res.ok) throw new PageError('errDevToken', { status: res.status });
  const body = (await res.json()) as { token?: string; url?: string };
  if (!body.token) throw new PageError('errDevToken', { status: res.status });
  return { token: body.token, url: body.url };
}

function showTokenMode() {
  tokenMode = true;
  ui.devFields.hidden = true;
  ui.tokenFields.hidden = false;
  ui.roomInput.required = false;
  ui.nameInput.required = false;
  ui.tokenInput.required = true;
  ui.tokenInput.focus();
}

function setJoining(on: boolean) {
  joining = on;
  ui.joinButton.disabled = on;
  ui.joinButton.textContent = on ? t('joining') : t('join');
}

ui.joinForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (joining) return;
  showError(ui.joinError, null);
  setJoining(true);
  try {
    let token: string;
    let url: string;
    if (tokenMode) {
      token = ui.tokenInput.value.trim();
      if (!token) throw new PageError('errNoToken');
      url = serverUrl();
    } else {
      const roomName = ui.roomInput.value.trim();
      const name = ui.nameInput.value.trim();
      localStorage.setItem('hop.room', roomName);
      localStorage.setItem('hop.name', name);
      const dev = await devToken(roomName, name);
      if (!dev) {
        showTokenMode();
        return;
      }
      token = dev.token;
      url = serverUrl(dev.url);
    }
    await join(url, token);
  } catch (err) {
    if (err instanceof PageError) showError(ui.joinError, err.key, err.params);
    else showError(ui.joinError, 'errConnect', { msg: message(err) });
  } finally {
    setJoining(false);
  }
});

async function join(url: string, token: string) {
  const r = new Room({
    adaptiveStream: true,
    dynacast: true,
    videoCaptureDefaults: { resolution: VideoPresets.h720.resolution },
    publishDefaults: { simulcast: true },
  });
  wireRoom(r);
  await r.connect(url, token);
  room = r;
  ui.joinView.hidden = true;
  ui.meetingView.hidden = false;
  showError(ui.meetingError, null);
  ui.chatLog.replaceChildren();
  syncTiles();
  updateControls();
  ui.audioButton.hidden = r.canPlaybackAudio;
  try {
    await r.localParticipant.enableCameraAndMicrophone();
  } catch (err) {
    showError(ui.meetingError, 'errMedia', { msg: message(err) });
  }
  syncTiles();
  updateControls();
}

function wireRoom(r: Room) {
  const sync = () => {
    if (r === room) syncTiles();
  };
  r.on(RoomEvent.ParticipantConnected, sync)
    .on(RoomEvent.ParticipantDisconnected, sync)
    .on(RoomEvent.TrackPublished, sync)
    .on(RoomEvent.TrackUnpublished, sync)
    .on(RoomEvent.TrackSubscribed, (track: RemoteTrack) => {
      if (track.kind === Track.Kind.Audio) ui.audioSink.append(track.attach());
      sync();
    })
    .on(RoomEvent.TrackUnsubscribed, (track: RemoteTrack) => {
      if (track.kind === Track.Kind.Audio) track.detach().forEach((e) => e.remove());
      sync();
    })
    .on(RoomEvent.TrackMuted, sync)
    .on(RoomEvent.TrackUnmuted, sync)
    .on(RoomEvent.LocalTrackPublished, () => {
      sync();
      updateControls();
    })
    .on(RoomEvent.LocalTrackUnpublished, () => {
      sync();
      updateControls();
    })
    .on(RoomEvent.ParticipantNameChanged, sync)
    .on(RoomEvent.ActiveSpeakersChanged, sync)
    .on(RoomEvent.AudioPlaybackStatusChanged, () => {
      ui.audioButton.hidden = r.canPlaybackAudio;
    })
    .on(RoomEvent.ConnectionStateChanged, (state: ConnectionState) => {
      if (r !== room) return;
      if (state === ConnectionState.Reconnecting || state === ConnectionState.SignalReconnecting) {
        showError(ui.meetingError, 'reconnecting');
      } else if (state === ConnectionState.Connected && shownErrors.get(ui.meetingError)?.key === 'reconnecting') {
        showError(ui.meetingError, null);
      }
    })
    .on(RoomEvent.DataReceived, (payload, participant, _kind, topic, _enc, identity) => {
      if (topic !== CHAT_TOPIC) return;
      addChat(displayName(participant, identity), chatText(payload));
    })
    .on(RoomEvent.Disconnected, (reason?: DisconnectReason) => {
      if (r !== room) return;
      leaveUi();
      if (reason !== DisconnectReason.CLIENT_INITIATED) showError(ui.joinError, 'disconnected');
    });
  r.registerTextStreamHandler(CHAT_TOPIC, async (reader, info) => {
    const text = await reader.readAll();
    addChat(displayName(r.getParticipantByIdentity(info.identity), info.identity), text);
  });
}

function leaveUi() {
  room = undefined;
  for (const tile of tiles.values()) tile.track?.detach(tile.video);
  tiles.clear();
  ui.grid.replaceChildren();
  ui.audioSink.replaceChildren();
  ui.meetingView.hidden = true;
  ui.joinView.hidden = false;
  ui.roomTitle.textContent = '';
}

// ---------- tiles ----------

interface Tile {
  root: HTMLElement;
  video: HTMLVideoElement;
  avatar: HTMLElement;
  name: HTMLElement;
  mic: HTMLElement;
  cam: HTMLElement;
  track?: Track;
}

const tiles = new Map<string, Tile>();

// Static icons (no user data goes into innerHTML).
const MIC_OFF_ICON =
  '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round">' +
  '<rect x="9" y="3" width="6" height="11" rx="3"/><path d="M5 11a7 7 0 0 0 14 0M12 18v3"/><path d="M3 3l18 18" class="slash"/></svg>';
const CAM_OFF_ICON =
  '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round">' +
  '<rect x="3" y="7" width="12" height="10" rx="2"/><path d="M15 11l6-3v8l-6-3"/><path d="M3 3l18 18" class="slash"/></svg>';

function displayName(p?: Participant, fallback = '?'): string {
  return p?.name || p?.identity || fallback;
}

function createTile(local: boolean): Tile {
  const root = document.createElement('figure');
  root.className = local ? 'tile local' : 'tile';
  const video = document.createElement('video');
  video.autoplay = true;
  video.playsInline = true;
  video.muted = true; // sound plays through the separate <audio> elements
  const avatar = document.createElement('div');
  avatar.className = 'avatar';
  const caption = document.createElement('figcaption');
  const name = document.createElement('span');
  name.className = 'name';
  const mic = document.createElement('span');
  mic.className = 'badge mic-off';
  mic.innerHTML = MIC_OFF_ICON;
  const cam = document.createElement('span');
  cam.className = 'badge cam-off';
  cam.innerHTML = CAM_OFF_ICON;
  caption.append(mic, cam, name);
  root.append(video, avatar, caption);
  return { root, video, avatar, name, mic, cam };
}

function updateTile(tile: Tile, p: Participant, local: boolean) {
  const camPub = p.getTrackPublication(Track.Source.Camera);
  const track = camPub && !camPub.isMuted ? camPub.track : undefined;
  if (tile.track !== track) {
    tile.track?.detach(tile.video);
    track?.attach(tile.video);
    tile.track = track;
  }
  tile.video.hidden = !track;
  tile.avatar.hidden = !!track;
  const name = displayName(p);
  tile.avatar.textContent = name.trim().charAt(0).toUpperCase() || '?';
  tile.name.textContent = local ? `${name} (${t('you')})` : name;

  const micPub = p.getTrackPublication(Track.Source.Microphone);
  const micOff = !micPub || micPub.isMuted;
  tile.mic.hidden = !micOff;
  tile.mic.title = t('micMuted');
  tile.mic.setAttribute('aria-label', t('micMuted'));
  tile.cam.hidden = !!track;
  tile.cam.title = t('camMuted');
  tile.cam.setAttribute('aria-label', t('camMuted'));
  tile.root.classList.toggle('speaking', p.isSpeaking);
}

function syncTiles() {
  const r = room;
  if (!r) return;
  const everyone: [Participant, boolean][] = [
    [r.localParticipant, true],
    ...[...r.remoteParticipants.values()].map((p): [RemoteParticipant, boolean] => [p, false]),
  ];
  const seen = new Set<string>();
  for (const [p, local] of everyone) {
    seen.add(p.identity);
    let tile = tiles.get(p.identity);
    if (!tile) {
      tile = createTile(local);
      tiles.set(p.identity, tile);
      ui.grid.append(tile.root);
    }
    updateTile(tile, p, local);
  }
  for (const [id, tile] of tiles) {
    if (seen.has(id)) continue;
    tile.track?.detach(tile.video);
    tile.root.remove();
    tiles.delete(id);
  }
  ui.grid.dataset.count = String(Math.min(tiles.size, 9));
  const count = tiles.size === 1 ? t('participantsOne') : t('participants', { n: tiles.size });
  ui.roomTitle.textContent = `${r.name} · ${count}`;
}

// ---------- controls ----------

function updateControls() {
  const lp: LocalParticipant | undefined = room?.localParticipant;
  const mic = lp?.isMicrophoneEnabled ?? false;
  const cam = lp?.isCameraEnabled ?? false;
  ui.micButton.textContent = mic ? t('micOn') : t('micOff');
  ui.micButton.setAttribute('aria-pressed', String(!mic));
  ui.micButton.classList.toggle('off', !mic);
  ui.camButton.textContent = cam ? t('camOn') : t('camOff');
  ui.camButton.setAttribute('aria-pressed', String(!cam));
  ui.camButton.classList.toggle('off', !cam);
}

async function toggle(kind: 'mic' | 'cam') {
  const lp = room?.localParticipant;
  if (!lp) return;
  try {
    if (kind === 'mic') await lp.setMicrophoneEnabled(!lp.isMicrophoneEnabled);
    else await lp.setCameraEnabled(!lp.isCameraEnabled);
    showError(ui.meetingError, null);
  } catch (err) {
    showError(ui.meetingError, 'errMedia', { msg: message(err) });
  }
  updateControls();
  syncTiles();
}

ui.micButton.addEventListener('click', () => void toggle('mic'));
ui.camButton.addEventListener('click', () => void toggle('cam'));
ui.audioButton.addEventListener('click', () => {
  void room?.startAudio().then(() => {
    ui.audioButton.hidden = room?.canPlaybackAudio ?? true;
  });
});
ui.leaveButton.addEventListener('click', () => {
  const r = room;
  leaveUi();
  void r?.disconnect();
});

// ---------- chat ----------

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Accepts plain text and LiveKit's JSON chat messages ({"message": "..."}). */
function chatText(payload: Uint8Array): string {
  const s = decoder.decode(payload);
  try {
    const o: unknown = JSON.parse(s);
    if (o && typeof o === 'object' && typeof (o as { message?: unknown }).message === 'string') {
      return (o as { message: string }).message;
    }
  } catch {
    // plain text
  }
  return s;
}

function addChat(from: string, text: string, own = false) {
  const li = document.createElement('li');
  if (own) li.className = 'own';
  const who = document.createElement('strong');
  who.textContent = own ? t('you') : from;
  const time = document.createElement('time');
  time.textContent = new Date().toLocaleTimeString(lang(), { hour: '2-digit', minute: '2-digit' });
  const body = document.createElement('p');
  body.textContent = text;
  li.append(who, time, body);
  ui.chatLog.append(li);
  ui.chatLog.scrollTop = ui.chatLog.scrollHeight;
}

ui.chatForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const text = ui.chatInput.value.trim();
  const r = room;
  if (!text || !r) return;
  ui.chatInput.value = '';
  const msg = { id: crypto.randomUUID(), timestamp: Date.now(), message: text };
  try {
    await r.localParticipant.publishData(encoder.encode(JSON.stringify(msg)), {
      reliable: true,
      topic: CHAT_TOPIC,
    });
    addChat('', text, true);
  } catch (err) {
    ui.chatInput.value = text;
    showError(ui.meetingError, 'errSend', { msg: message(err) });
  }
});

// ---------- start ----------

ui.roomInput.value = params.get('room') ?? localStorage.getItem('hop.room') ?? '';
ui.nameInput.value = params.get('name') ?? localStorage.getItem('hop.name') ?? '';
if (tokenMode) {
  ui.tokenInput.value = params.get('token') ?? '';
  showTokenMode();
}
applyI18n();
