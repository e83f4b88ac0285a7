// The test page run.mjs loads into each Chromium context. It exposes window.hop, which run.mjs
// drives step by step: connect, sendHello, sample (twice, 2 s apart), report; in timeline mode
// connect, then tick every sampleMs (one timeline sample from all PeerConnections' stats), report.

import {
  ConnectionState,
  ExternalE2EEKeyProvider,
  type LocalTrackPublication,
  LogLevel,
  ParticipantEvent,
  type RemoteParticipant,
  type RemoteTrack,
  type RemoteTrackPublication,
  Room,
  RoomEvent,
  Track,
  VideoPresets,
  VideoQuality,
  setLogLevel,
} from 'livekit-client';

// ---- record every websocket the client opens, before livekit-client makes any ----

interface SignalSocket {
  path: string;
  opened: boolean;
  closeCode?: number;
  error?: boolean;
}
const signalSockets: SignalSocket[] = [];
const NativeWebSocket = window.WebSocket;
class RecordingWebSocket extends NativeWebSocket {
  constructor(url: string | URL, protocols?: string | string[]) {
    super(url, protocols);
    const rec: SignalSocket = { path: new URL(String(url)).pathname, opened: false };
    signalSockets.push(rec);
    this.addEventListener('open', () => (rec.opened = true));
    this.addEventListener('error', () => (rec.error = true));
    this.addEventListener('close', (ev) => (rec.closeCode = ev.code));
  }
}
window.WebSocket = RecordingWebSocket;

// ---- keep every PeerConnection, to describe its negotiation and transport in the report ----

const peerConnections: RTCPeerConnection[] = [];
// The ICE server URLs each PeerConnection was given (by the server, through livekit-client).
const offeredIceUrls = new WeakMap<RTCPeerConnection, string[]>();
// When set, only TURN servers reached over these transports (udp, tcp, tls) are kept: a test
// can make one relay path the only one without a firewall rule for it.
let turnTransports: string[] | undefined;

function turnTransport(url: string): string {
  if (url.startsWith('turns:')) return 'tls';
  return /[?&]transport=tcp/.test(url) ? 'tcp' : 'udp';
}

function filterTURN(servers: RTCIceServer[] | undefined): RTCIceServer[] | undefined {
  if (!servers || !turnTransports) return servers;
  const keep = turnTransports;
  return servers
    .map((s) => {
      const urls = (Array.isArray(s.urls) ? s.urls : [s.urls]).filter((u) => !u.startsWith('turn') || keep.includes(turnTransport(u)));
      return { ...s, urls };
    })
    .filter((s) => s.urls.length > 0);
}

const NativePC = window.RTCPeerConnection;
class RecordingPC extends NativePC {
  constructor(config?: RTCConfiguration) {
    const offered = (config?.iceServers ?? []).flatMap((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]));
    super(config ? { ...config, iceServers: filterTURN(config.iceServers) } : config);
    offeredIceUrls.set(this, offered);
    peerConnections.push(this);
  }

  // livekit-client may make the PeerConnection before the join response, and set its ICE servers then.
  setConfiguration(config?: RTCConfiguration) {
    if (config?.iceServers) offeredIceUrls.set(this, config.iceServers.flatMap((s) => (Array.isArray(s.urls) ? s.urls : [s.urls])));
    super.setConfiguration(config ? { ...config, iceServers: filterTURN(config.iceServers) } : config);
  }
}
window.RTCPeerConnection = RecordingPC;

async function describePC(pc: RTCPeerConnection) {
  const sdp = pc.remoteDescription?.sdp ?? '';
  const fb = new Set<string>();
  const ext = new Set<string>();
  const codecs = new Set<string>();
  let kind = '';
  const directions: string[] = [];
  // Per m-section, the codecs in the m-line's (preference) order.
  const order: { kind: string; pts: string[]; names: Map<string, string> }[] = [];
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) {
      const f = line.slice(2).split(' ');
      kind = f[0];
      order.push({ kind, pts: f.slice(3), names: new Map() });
    }
    if (line.startsWith('a=rtpmap:') && order.length) {
      const [pt, name] = line.slice('a=rtpmap:'.length).split(' ');
      order[order.length - 1].names.set(pt, name);
    }
    if (line.startsWith('a=rtcp-fb:')) fb.add(`${kind} ${line.split(' ').slice(1).join(' ')}`);
    else if (line.startsWith('a=extmap:')) ext.add(`${kind} ${line.split(' ')[1]}`);
    else if (line.startsWith('a=rtpmap:')) codecs.add(`${kind} ${line.split(' ')[1]}`);
    else if (/^a=(sendrecv|sendonly|recvonly|inactive)$/.test(line)) directions.push(`${kind} ${line.slice(2)}`);
  }
  let selected: Record<string, unknown> | undefined;
  const pairs: string[] = [];
  try {
    const stats = await pc.getStats();
    const cand = (id: unknown) => {
      const c = stats.get(id as string) as Record<string, unknown> | undefined;
      if (!c) return '?';
      const over = c.relayProtocol ? ` over ${c.relayProtocol}` : '';
      return `${c.candidateType} ${c.protocol} ${c.address}:${c.port}${over}`;
    };
    stats.forEach((s: Record<string, unknown>) => {
      if (s.type === 'candidate-pair') {
        const flags = `${s.nominated ? ' nominated' : ''}${s.state === 'succeeded' ? ` rtt=${s.currentRoundTripTime}` : ''}`;
        pairs.push(`${cand(s.localCandidateId)} -> ${cand(s.remoteCandidateId)}: ${s.state}${flags} sent=${s.bytesSent}`);
      }
    });
    stats.forEach((s: Record<string, unknown>) => {
      if (s.type === 'transport' && typeof s.selectedCandidatePairId === 'string') {
        const pair = stats.get(s.selectedCandidatePairId) as Record<string, unknown> | undefined;
        if (!pair) return;
        const l = stats.get(pair.localCandidateId as string) as Record<string, unknown> | undefined;
        const r = stats.get(pair.remoteCandidateId as string) as Record<string, unknown> | undefined;
        selected = {
          local: l ? `${l.candidateType} ${l.protocol} ${l.address}:${l.port}` : '',
          remote: r ? `${r.candidateType} ${r.protocol} ${r.address}:${r.port}` : '',
          localRelayProtocol: l?.relayProtocol,
          currentRoundTripTime: pair.currentRoundTripTime,
          availableOutgoingBitrate: pair.availableOutgoingBitrate,
          availableIncomingBitrate: pair.availableIncomingBitrate,
          bytesSent: pair.bytesSent,
          bytesReceived: pair.bytesReceived,
        };
      }
    });
  } catch {
    // closed
  }
  return {
    connectionState: pc.connectionState,
    iceConnectionState: pc.iceConnectionState,
    remoteFeedback: [...fb].sort(),
    remoteExtensions: [...ext].sort(),
    remoteCodecs: [...codecs].sort(),
    remoteCodecOrder: order.map((m) => `${m.kind} ${m.pts.map((pt) => m.names.get(pt) ?? pt).join(',')}`),
    remoteDirections: directions,
    selectedPair: selected ?? null,
    candidatePairs: pairs,
    iceServerUrls: offeredIceUrls.get(pc) ?? [],
  };
}

// ---- state ----

const TEST_TOPIC = 'hop-test';

interface Received {
  from: string;
  topic: string;
  payload: string;
  kind: string;
}

interface Sample {
  at: number;
  video?: VideoSample;
  audio?: AudioSample;
}

interface VideoSample {
  width: number;
  height: number;
  framesDecoded?: number;
  playbackFrames?: number;
  frameWidth?: number;
  frameHeight?: number;
  framesPerSecond?: number;
  bytesReceived?: number;
  packetsReceived?: number;
  packetsLost?: number;
  keyFramesDecoded?: number;
  nackCount?: number;
  pliCount?: number;
  firCount?: number;
  codec?: string;
}

interface AudioSample {
  packetsReceived?: number;
  totalAudioEnergy?: number;
  audioLevel?: number;
  totalSamplesReceived?: number;
  concealedSamples?: number;
  bytesReceived?: number;
  codec?: string;
}

let room: Room | undefined;
let identity = '';
const errors: string[] = [];
const received: Received[] = [];
const samples = new Map<string, Sample[]>(); // by remote identity
const videoEls = new Map<string, HTMLVideoElement>(); // by remote identity
let connectMs = 0;

function err(msg: string) {
  errors.push(msg);
  console.error(`[hop-test] ${msg}`);
}

// Options that shape how this participant subscribes (set by connect).
let adaptive = false;
let tileWidth = 320;
let tileHeight = 180;

// Events (livekit-client's, with Date.now() times) that tick hands out, in order.
interface PageEvent {
  at: number;
  kind: string;
  detail: string;
}
const events: PageEvent[] = [];
let eventsSent = 0;
function event(kind: string, detail = '') {
  if (events.length < 2000) events.push({ at: Date.now(), kind, detail });
}

function requestHigh(pub: RemoteTrackPublication) {
  // With adaptiveStream the element's size chooses the layer, as in an application.
  if (pub.kind === Track.Kind.Video && !adaptive) pub.setVideoQuality(VideoQuality.HIGH);
}

function onSubscribed(track: RemoteTrack, pub: RemoteTrackPublication, p: RemoteParticipant) {
  requestHigh(pub);
  if (track.kind === Track.Kind.Video) {
    if (pub.source !== Track.Source.Camera && videoEls.has(p.identity)) return;
    const old = videoEls.get(p.identity);
    if (old) old.remove();
    const v = track.attach() as HTMLVideoElement;
    v.muted = true;
    v.width = tileWidth;
    v.height = tileHeight;
    // The CSS size is what adaptiveStream measures (clientWidth x clientHeight).
    v.style.width = `${tileWidth}px`;
    v.style.height = `${tileHeight}px`;
    v.style.display = 'block';
    v.dataset.identity = p.identity;
    document.body.append(v);
    videoEls.set(p.identity, v);
  } else if (track.kind === Track.Kind.Audio) {
    const a = track.attach();
    a.dataset.identity = p.identity;
    document.body.append(a);
  }
}

// ---- following the room's state, not only its events ----
//
// livekit-client 2.23 loses room events after a full reconnect ("restart"): Room emits Reconnected
// as soon as the new PeerConnection connects (engine.waitForRestarted sees pcState Connected) while
// the engine itself still sleeps its 2 s minReconnectWait; until that attempt ends,
// Room.emitWhenConnected buffers TrackSubscribed, ParticipantConnected, … for a next Reconnected
// that never comes. The media is there (publication.track is set). So the page listens on each
// participant too (participant events are not buffered) and scans room.remoteParticipants after
// connecting and, after Reconnected, until the room has stayed connected a while.

const handledTracks = new WeakSet<RemoteTrack>();
const announced = new WeakSet<RemoteParticipant>();
const watched = new WeakSet<RemoteParticipant>();

/** handleSubscribed handles a subscribed track once, however the page learnt of it: `via` names
 * the way other than the room's TrackSubscribed ('participant' event or 'scan'), recorded as a
 * 'reconciled' event (livekit-client's room event was held back or lost). */
function handleSubscribed(track: RemoteTrack, pub: RemoteTrackPublication, p: RemoteParticipant, via = '') {
  // A stale event (buffered, then flushed by a later reconnect) names a track the publication dropped.
  if (handledTracks.has(track) || pub.track !== track) return;
  handledTracks.add(track);
  handleParticipant(p);
  onSubscribed(track, pub, p);
  event('trackSubscribed', `${p.identity} ${track.source}`);
  if (via) event('reconciled', `${p.identity} ${track.source} ${via}`);
}

/** handleParticipant announces a remote participant once and follows its own track events. */
function handleParticipant(p: RemoteParticipant) {
  if (!announced.has(p)) {
    announced.add(p);
    event('participantConnected', p.identity);
  }
  if (watched.has(p)) return;
  watched.add(p);
  p.on(ParticipantEvent.TrackSubscribed, (track, pub) => handleSubscribed(track, pub, p, 'participant'));
}

/** reconcile handles every remote participant and subscribed track the room has. */
function reconcile(r: Room) {
  for (const p of r.remoteParticipants.values()) {
    handleParticipant(p);
    for (const pub of p.trackPublications.values()) {
      if (pub.track && pub.isSubscribed) handleSubscribed(pub.track, pub, p, 'scan');
    }
  }
}

// After Reconnected, how long the room must have stayed connected before the scans stop, how
// often they run, and their bound. Polled: nothing announces the end of the engine's attempt.
const STABLE_MS = 3000;
const RECONCILE_EVERY_MS = 250;
const RECONCILE_FOR_MS = 15000;
let reconcileRun = 0;

function reconcileUntilStable(r: Room) {
  const run = ++reconcileRun;
  const deadline = Date.now() + RECONCILE_FOR_MS;
  let connectedSince = 0;
  const pass = () => {
    if (room !== r || run !== reconcileRun) return;
    reconcile(r);
    const now = Date.now();
    if (r.state !== ConnectionState.Connected) connectedSince = 0;
    else connectedSince ||= now;
    if ((connectedSince && now - connectedSince >= STABLE_MS) || now >= deadline) return;
    setTimeout(pass, RECONCILE_EVERY_MS);
  };
  pass();
}

export interface ConnectOptions {
  url: string;
  token: string;
  identity: string;
  singlePeerConnection: boolean;
  width: number;
  height: number;
  logLevel: string;
  /** Publish camera and microphone (default true). */
  publish?: boolean;
  /** livekit-client's adaptiveStream: the remote video element's size picks the layer. */
  adaptiveStream?: boolean;
  /** livekit-client's dynacast: the publisher pauses simulcast layers nobody receives. */
  dynacast?: boolean;
  /** CSS size of each remote video element (default 320x180). */
  tileWidth?: number;
  tileHeight?: number;
  /** Opus DTX and RED for the published microphone (livekit-client's defaults when unset). */
  dtx?: boolean;
  red?: boolean;
  /** livekit-client's end-to-end encryption with this shared key (its worker from /e2ee-worker.js). */
  e2eeKey?: string;
  /** Capture the microphone without echo cancellation, noise suppression and gain control. */
  rawAudio?: boolean;
  /** Keep only the TURN servers reached over these transports (udp, tcp, tls); all when unset. */
  turnTransports?: string[];
}

/** traceTrackEvents logs every RTCPeerConnection track event the browser fires (mid, stream ids),
 * under livekit-client's debug logging: what livekit-client was given to work with. */
function traceTrackEvents() {
  const Native = window.RTCPeerConnection;
  if ((Native as unknown as { traced?: boolean }).traced) return;
  const Traced = function (this: RTCPeerConnection, ...args: ConstructorParameters<typeof RTCPeerConnection>) {
    const pc = new Native(...args);
    pc.addEventListener('track', (e) =>
      console.log(
        `[hop-test] track event mid=${e.transceiver?.mid} kind=${e.track.kind} streams=${e.streams.map((s) => s.id).join(',')} ` +
          `room=${room?.state} resuming=${(room as any)?.isResuming} pendingReconnect=${(room as any)?.engine?.pendingReconnect} ` +
          `attempting=${(room as any)?.engine?.attemptingReconnect} pcState=${(room as any)?.engine?.pcState} ` +
          `signal=${(room as any)?.engine?.client?.currentState}`,
      ),
    );
    return pc;
  } as unknown as typeof RTCPeerConnection;
  Traced.prototype = Native.prototype;
  Object.assign(Traced, { traced: true, generateCertificate: Native.generateCertificate });
  window.RTCPeerConnection = Traced;
}

async function connect(o: ConnectOptions) {
  identity = o.identity;
  turnTransports = o.turnTransports;
  adaptive = !!o.adaptiveStream;
  tileWidth = o.tileWidth || 320;
  tileHeight = o.tileHeight || 180;
  setLogLevel((o.logLevel as keyof typeof LogLevel) in LogLevel ? (o.logLevel as keyof typeof LogLevel) : 'warn');
  if (o.logLevel === 'debug' || o.logLevel === 'trace') traceTrackEvents();
  let e2ee: { keyProvider: ExternalE2EEKeyProvider; worker: Worker } | undefined;
  if (o.e2eeKey) {
    const keyProvider = new ExternalE2EEKeyProvider();
    await keyProvider.setKey(o.e2eeKey);
    e2ee = { keyProvider, worker: new Worker('/e2ee-worker.js', { type: 'module' }) };
  }
  const r = new Room({
    ...(e2ee ? { e2ee } : {}),
    adaptiveStream: adaptive ? { pixelDensity: 1, pauseVideoInBackground: false } : false,
    dynacast: !!o.dynacast,
    singlePeerConnection: o.singlePeerConnection,
    videoCaptureDefaults: {
      resolution: { width: o.width, height: o.height, frameRate: VideoPresets.h720.resolution.frameRate },
    },
    ...(o.rawAudio ? { audioCaptureDefaults: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } } : {}),
    // Three Chromiums encoding 720p simulcast on a 2-core CI machine run out of CPU; Chrome would
    // then stop sending the 720p layer. The tests check what the SFU delivers, so the publishers
    // keep their resolution and drop frame rate instead.
    publishDefaults: {
      simulcast: true,
      videoEncoding: VideoPresets.h720.encoding,
      degradationPreference: 'maintain-resolution',
      ...(o.dtx === undefined ? {} : { dtx: o.dtx }),
      ...(o.red === undefined ? {} : { red: o.red }),
    },
  });
  room = r;
  r.on(RoomEvent.EncryptionError, (e) => event('encryptionError', String(e?.message ?? e)));
  r.on(RoomEvent.TrackSubscribed, (t, pub, p) => handleSubscribed(t, pub, p))
    .on(RoomEvent.TrackPublished, requestHigh)
    .on(RoomEvent.TrackSubscriptionFailed, (sid, p, reason) =>
      err(`subscription to ${p.identity}'s track ${sid} failed: ${reason ?? 'unknown'}`),
    )
    .on(RoomEvent.TrackUnsubscribed, (track) => {
      track.detach().forEach((e) => e.remove());
    })
    .on(RoomEvent.DataReceived, (payload, p, kind, topic, _enc, from) => {
      received.push({
        from: p?.identity ?? from ?? '',
        topic: topic ?? '',
        payload: new TextDecoder().decode(payload),
        kind: kind === undefined ? '' : String(kind),
      });
    })
    .on(RoomEvent.Disconnected, (reason) => {
      if (room === r) err(`disconnected (reason ${reason})`);
    })
    .on(RoomEvent.Reconnecting, () => err('reconnecting'))
    .on(RoomEvent.SignalReconnecting, () => err('signal reconnecting'))
    .on(RoomEvent.MediaDevicesError, (e) => err(`media devices: ${e.message}`))
    .on(RoomEvent.ParticipantConnected, handleParticipant)
    .on(RoomEvent.ParticipantDisconnected, (p) => event('participantDisconnected', p.identity))
    .on(RoomEvent.TrackStreamStateChanged, (pub, st, p) => event('streamState', `${p.identity} ${pub.source} ${st}`))
    .on(RoomEvent.ConnectionQualityChanged, (q, p) => event('connectionQuality', `${p.identity} ${q}`))
    .on(RoomEvent.LocalTrackSubscribed, (pub) => event('localTrackSubscribed', pub.source))
    .on(RoomEvent.Reconnecting, () => event('reconnecting'))
    .on(RoomEvent.Reconnected, () => {
      event('reconnected');
      reconcileUntilStable(r);
    });

  const t0 = performance.now();
  if (e2ee) await r.setE2EEEnabled(true);
  await r.connect(o.url, o.token, { autoSubscribe: true });
  connectMs = Math.round(performance.now() - t0);
  event('connected', `${connectMs} ms`);
  if (o.publish !== false) {
    try {
      await r.localParticipant.enableCameraAndMicrophone();
      event('published');
    } catch (e) {
      err(`enableCameraAndMicrophone: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  for (const p of r.remoteParticipants.values()) {
    for (const pub of p.trackPublications.values()) requestHigh(pub);
  }
  reconcile(r);
  return { connectMs, sid: r.localParticipant.sid, serverInfo: r.serverInfo ?? null };
}

/** Resolves when `count` remote participants are present (or after timeoutMs). */
async function waitForRemotes(count: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (room && room.remoteParticipants.size >= count) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  err(`saw ${room?.remoteParticipants.size ?? 0} remote participants, expected ${count}`);
  return false;
}

async function sendHello() {
  if (!room) throw new Error('not connected');
  await room.localParticipant.publishData(new TextEncoder().encode(identity), {
    reliable: true,
    topic: TEST_TOPIC,
  });
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

async function inbound(track: RemoteTrack | undefined) {
  if (!track) return undefined;
  const report = await track.getRTCStatsReport();
  if (!report) return undefined;
  let rtp: Record<string, unknown> | undefined;
  report.forEach((s: Record<string, unknown>) => {
    if (s.type === 'inbound-rtp') rtp = s;
  });
  if (!rtp) return undefined;
  const codec = typeof rtp.codecId === 'string' ? (report.get(rtp.codecId) as Record<string, unknown> | undefined) : undefined;
  return { rtp, codec: typeof codec?.mimeType === 'string' ? codec.mimeType : undefined };
}

// reached reports whether every remote participant's video is decoded at the given size.
function reached(width: number, height: number): boolean {
  if (!room || room.remoteParticipants.size === 0) return false;
  for (const p of room.remoteParticipants.values()) {
    const v = videoEls.get(p.identity);
    if (!v || v.videoWidth !== width || v.videoHeight !== height) return false;
  }
  return true;
}

async function sample() {
  if (!room) return;
  const at = Date.now();
  for (const p of room.remoteParticipants.values()) {
    const s: Sample = { at };
    const vpub = p.getTrackPublication(Track.Source.Camera) as RemoteTrackPublication | undefined;
    const v = videoEls.get(p.identity);
    if (vpub?.track || v) {
      const st = await inbound(vpub?.track);
      const q = v?.getVideoPlaybackQuality?.();
      s.video = {
        width: v?.videoWidth ?? 0,
        height: v?.videoHeight ?? 0,
        playbackFrames: q ? q.totalVideoFrames : undefined,
        framesDecoded: num(st?.rtp.framesDecoded),
        frameWidth: num(st?.rtp.frameWidth),
        frameHeight: num(st?.rtp.frameHeight),
        framesPerSecond: num(st?.rtp.framesPerSecond),
        bytesReceived: num(st?.rtp.bytesReceived),
        packetsReceived: num(st?.rtp.packetsReceived),
        packetsLost: num(st?.rtp.packetsLost),
        keyFramesDecoded: num(st?.rtp.keyFramesDecoded),
        nackCount: num(st?.rtp.nackCount),
        pliCount: num(st?.rtp.pliCount),
        firCount: num(st?.rtp.firCount),
        codec: st?.codec,
      };
    }
    const apub = p.getTrackPublication(Track.Source.Microphone) as RemoteTrackPublication | undefined;
    if (apub?.track) {
      const st = await inbound(apub.track);
      s.audio = {
        packetsReceived: num(st?.rtp.packetsReceived),
        totalAudioEnergy: num(st?.rtp.totalAudioEnergy),
        audioLevel: num(st?.rtp.audioLevel),
        totalSamplesReceived: num(st?.rtp.totalSamplesReceived),
        concealedSamples: num(st?.rtp.concealedSamples),
        bytesReceived: num(st?.rtp.bytesReceived),
        codec: st?.codec,
      };
    }
    const list = samples.get(p.identity) ?? [];
    list.push(s);
    samples.set(p.identity, list);
  }
}

let availableOutgoingBitrate: number | undefined;

async function localStats(pub: LocalTrackPublication | undefined) {
  const report = await pub?.track?.getRTCStatsReport();
  const out: Record<string, unknown>[] = [];
  report?.forEach((s: Record<string, unknown>) => {
    if (s.type === 'candidate-pair' && s.nominated && typeof s.availableOutgoingBitrate === 'number') {
      availableOutgoingBitrate = s.availableOutgoingBitrate;
    }
    if (s.type !== 'outbound-rtp') return;
    out.push({
      targetBitrate: s.targetBitrate,
      framesPerSecond: s.framesPerSecond,
      nackCount: s.nackCount,
      pliCount: s.pliCount,
      retransmittedPacketsSent: s.retransmittedPacketsSent,
      rid: s.rid ?? '',
      frameWidth: s.frameWidth,
      frameHeight: s.frameHeight,
      framesEncoded: s.framesEncoded,
      framesSent: s.framesSent,
      packetsSent: s.packetsSent,
      bytesSent: s.bytesSent,
      active: s.active,
      qualityLimitationReason: s.qualityLimitationReason,
      encoderImplementation: s.encoderImplementation,
    });
  });
  return out.sort((a, b) => String(a.rid).localeCompare(String(b.rid)));
}

async function report() {
  const r = room;
  const remotes = [];
  if (r) {
    for (const p of r.remoteParticipants.values()) {
      const ss = samples.get(p.identity) ?? [];
      const vpub = p.getTrackPublication(Track.Source.Camera);
      const apub = p.getTrackPublication(Track.Source.Microphone);
      remotes.push({
        identity: p.identity,
        videoPublished: !!vpub,
        videoSubscribed: !!vpub?.track,
        audioPublished: !!apub,
        audioSubscribed: !!apub?.track,
        samples: ss,
      });
    }
  }
  const lp = r?.localParticipant;
  return {
    identity,
    connected: r?.state === 'connected',
    state: r?.state ?? 'none',
    connectMs,
    signalSockets,
    sid: lp?.sid ?? '',
    serverInfo: r?.serverInfo ?? null,
    local: lp
      ? {
          cameraPublished: !!lp.getTrackPublication(Track.Source.Camera),
          microphonePublished: !!lp.getTrackPublication(Track.Source.Microphone),
          video: await localStats(lp.getTrackPublication(Track.Source.Camera)),
          audio: await localStats(lp.getTrackPublication(Track.Source.Microphone)),
          availableOutgoingBitrate,
        }
      : null,
    remotes,
    peerConnections: await Promise.all(peerConnections.map(describePC)),
    dataReceived: received,
    events,
    errors,
  };
}

async function disconnect() {
  const r = room;
  room = undefined;
  await r?.disconnect();
}

// ---- timeline: one sample of every PeerConnection's stats, taken by tick() ----

type Stats = Record<string, unknown>;

function pick(s: Stats, keys: string[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const k of keys) if (s[k] !== undefined) o[k] = s[k];
  return o;
}

const VIDEO_IN = [
  'frameWidth', 'frameHeight', 'framesDecoded', 'framesReceived', 'framesDropped', 'keyFramesDecoded',
  'packetsReceived', 'packetsLost', 'bytesReceived', 'nackCount', 'pliCount', 'firCount', 'freezeCount',
  'totalFreezesDuration', 'pauseCount', 'totalPausesDuration', 'framesPerSecond', 'jitterBufferDelay',
  'jitterBufferEmittedCount', 'retransmittedPacketsReceived', 'retransmittedBytesReceived',
];
const AUDIO_IN = [
  'packetsReceived', 'packetsLost', 'packetsDiscarded', 'concealedSamples', 'silentConcealedSamples',
  'concealmentEvents', 'totalSamplesReceived', 'insertedSamplesForDeceleration', 'removedSamplesForAcceleration',
  'fecPacketsReceived', 'totalAudioEnergy', 'audioLevel', 'jitterBufferDelay', 'jitterBufferEmittedCount',
  'bytesReceived',
];
const OUT = [
  'rid', 'kind', 'bytesSent', 'packetsSent', 'frameWidth', 'frameHeight', 'framesEncoded', 'framesSent', 'active',
  'qualityLimitationReason', 'targetBitrate', 'framesPerSecond', 'retransmittedBytesSent', 'retransmittedPacketsSent',
  'nackCount', 'pliCount',
  'scalabilityMode',
];

async function tick() {
  const at = Date.now();
  const all: Stats[] = [];
  const byId = new Map<string, Stats>();
  const transport = { bytesSent: 0, bytesReceived: 0, availableOutgoingBitrate: 0, currentRoundTripTime: 0 };
  for (const pc of peerConnections) {
    if (pc.connectionState === 'closed') continue;
    let report: RTCStatsReport;
    try {
      report = await pc.getStats();
    } catch {
      continue;
    }
    const local: Stats[] = [];
    report.forEach((s: Stats) => {
      local.push(s);
      byId.set(s.id as string, s);
    });
    all.push(...local);
    for (const s of local) {
      if (s.type !== 'transport' || typeof s.selectedCandidatePairId !== 'string') continue;
      const pair = report.get(s.selectedCandidatePairId) as Stats | undefined;
      if (!pair) continue;
      transport.bytesSent += num(pair.bytesSent) ?? 0;
      transport.bytesReceived += num(pair.bytesReceived) ?? 0;
      transport.availableOutgoingBitrate = Math.max(transport.availableOutgoingBitrate, num(pair.availableOutgoingBitrate) ?? 0);
      transport.currentRoundTripTime = Math.max(transport.currentRoundTripTime, num(pair.currentRoundTripTime) ?? 0);
    }
  }
  const inboundByTrack = new Map<string, Stats>();
  const outbound: Stats[] = [];
  for (const s of all) {
    if (s.type === 'inbound-rtp' && typeof s.trackIdentifier === 'string') inboundByTrack.set(s.trackIdentifier, s);
    if (s.type === 'outbound-rtp') outbound.push(s);
  }
  const codecOf = (s: Stats) => {
    const c = typeof s.codecId === 'string' ? byId.get(s.codecId) : undefined;
    return typeof c?.mimeType === 'string' ? c.mimeType : '';
  };
  const remotes = [];
  if (room) {
    for (const p of room.remoteParticipants.values()) {
      const r: Record<string, unknown> = { identity: p.identity };
      const vpub = p.getTrackPublication(Track.Source.Camera) as RemoteTrackPublication | undefined;
      const vin = vpub?.track ? inboundByTrack.get(vpub.track.mediaStreamTrack.id) : undefined;
      const el = videoEls.get(p.identity);
      if (vin || el) {
        r.video = {
          ...(vin ? pick(vin, VIDEO_IN) : {}),
          elementWidth: el?.videoWidth ?? 0,
          elementHeight: el?.videoHeight ?? 0,
          streamState: vpub?.track ? (vpub.track as { streamState?: string }).streamState ?? '' : '',
          codec: vin ? codecOf(vin) : '',
        };
      }
      const apub = p.getTrackPublication(Track.Source.Microphone) as RemoteTrackPublication | undefined;
      const ain = apub?.track ? inboundByTrack.get(apub.track.mediaStreamTrack.id) : undefined;
      if (ain) r.audio = { ...pick(ain, AUDIO_IN), codec: codecOf(ain) };
      remotes.push(r);
    }
  }
  let local: Record<string, unknown> | undefined;
  if (outbound.length) {
    const ridOrder = (s: Stats) => String(s.rid ?? '');
    const layers = (kind: string) =>
      outbound
        .filter((s) => s.kind === kind)
        .map((s) => {
          const src = typeof s.mediaSourceId === 'string' ? byId.get(s.mediaSourceId) : undefined;
          return { ...pick(s, OUT), rid: s.rid ?? '', codec: codecOf(s), sourceFramesPerSecond: src?.framesPerSecond };
        })
        .sort((a, b) => ridOrder(a as Stats).localeCompare(ridOrder(b as Stats)));
    local = { video: layers('video'), audio: layers('audio') };
  }
  const newEvents = events.slice(eventsSent);
  eventsSent = events.length;
  return { at, remotes, local, transport, events: newEvents };
}

const hop = { connect, waitForRemotes, sendHello, reached, sample, report, disconnect, tick };
declare global {
  interface Window {
    hop: typeof hop;
  }
}
window.hop = hop;
