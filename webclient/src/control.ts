// Meeting control as the app sees it: roles, the meeting's settings, notices about what happened
// to you, the lobby queue, and which controls each person gets. Pure functions, unit-tested; the
// server decides, these only show its decisions (see the control contract of issue 22).

import type { Key } from './i18n';

export type Role = 'host' | 'cohost' | 'participant' | 'viewer';

export const ROLE_ATTR = 'hop.role';
export const STAGE_ATTR = 'hop.stage';
export const SETTINGS_TOPIC = 'hop.meeting';
export const NOTICE_TOPIC = 'hop.notice';
export const LOBBY_TOPIC = 'hop.lobby';

export interface Settings {
  lobby: boolean;
  hasPassword: boolean;
  locked: boolean;
  muteOnEntry: boolean;
  cameraOffOnEntry: boolean;
  chat: boolean;
  screenShare: 'all' | 'hosts';
  unmute: 'allowed' | 'blocked';
  spotlight: string;
  maxParticipants: number;
}

export const defaultSettings: Settings = {
  lobby: false,
  hasPassword: false,
  locked: false,
  muteOnEntry: false,
  cameraOffOnEntry: false,
  chat: true,
  screenShare: 'all',
  unmute: 'allowed',
  spotlight: '',
  maxParticipants: 0,
};

export interface Waiting {
  id: string;
  name: string;
  since: number;
}

export interface Notice {
  code: string;
  by: string;
  detail: string;
}

/** roleOf reads a participant's role; anything the server did not set is a participant. */
export function roleOf(attrs: Record<string, string> | undefined): Role {
  const r = attrs?.[ROLE_ATTR];
  return r === 'host' || r === 'cohost' || r === 'viewer' ? r : 'participant';
}

/** onStage: a viewer brought on stage may publish while keeping the viewer role. */
export function onStage(attrs: Record<string, string> | undefined): boolean {
  return attrs?.[STAGE_ATTR] === '1';
}

export function isModerator(role: Role): boolean {
  return role === 'host' || role === 'cohost';
}

export const roleKey: Record<Role, Key> = { host: 'roleHost', cohost: 'roleCohost', participant: 'roleParticipant', viewer: 'roleViewer' };

/** badgeRole is the role a tile names: the ordinary participant carries no badge. */
export function badgeRole(role: Role): Role | null {
  return role === 'participant' ? null : role;
}

function bool(v: unknown, d: boolean): boolean {
  return typeof v === 'boolean' ? v : d;
}

/** parseSettings reads a hop.meeting payload; fields missing or malformed keep their defaults. */
export function parseSettings(payload: Uint8Array | string): Settings | null {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(typeof payload === 'string' ? payload : new TextDecoder().decode(payload)) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object') return null;
  const d = defaultSettings;
  return {
    lobby: bool(v.lobby, d.lobby),
    hasPassword: bool(v.hasPassword, d.hasPassword),
    locked: bool(v.locked, d.locked),
    muteOnEntry: bool(v.muteOnEntry, d.muteOnEntry),
    cameraOffOnEntry: bool(v.cameraOffOnEntry, d.cameraOffOnEntry),
    chat: bool(v.chat, d.chat),
    screenShare: v.screenShare === 'hosts' ? 'hosts' : 'all',
    unmute: v.unmute === 'blocked' ? 'blocked' : 'allowed',
    spotlight: typeof v.spotlight === 'string' ? v.spotlight : '',
    maxParticipants: typeof v.maxParticipants === 'number' ? v.maxParticipants : 0,
  };
}

export function parseNotice(payload: Uint8Array): Notice | null {
  try {
    const v = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
    if (typeof v.code !== 'string' || !v.code) return null;
    return { code: v.code, by: typeof v.by === 'string' ? v.by : '', detail: typeof v.detail === 'string' ? v.detail : '' };
  } catch {
    return null;
  }
}

export function parseWaiting(list: unknown): Waiting[] {
  if (!Array.isArray(list)) return [];
  return list
    .filter((w): w is Record<string, unknown> => !!w && typeof w === 'object' && typeof (w as Waiting).id === 'string')
    .map((w) => ({ id: String(w.id), name: typeof w.name === 'string' ? w.name : '', since: typeof w.since === 'number' ? w.since : 0 }));
}

export function parseLobby(payload: Uint8Array): Waiting[] | null {
  try {
    const v = JSON.parse(new TextDecoder().decode(payload)) as { waiting?: unknown };
    return parseWaiting(v.waiting);
  } catch {
    return null;
  }
}

/** newArrivals are the tickets in next that were not in prev: who just knocked. */
export function newArrivals(prev: Waiting[], next: Waiting[]): Waiting[] {
  const seen = new Set(prev.map((w) => w.id));
  return next.filter((w) => !seen.has(w.id));
}

const noticeKeys: Record<string, [Key, Key]> = {
  // [said by a named host, said without a name]
  'muted-mic': ['noticeMutedMicBy', 'noticeMutedMic'],
  'muted-camera': ['noticeMutedCameraBy', 'noticeMutedCamera'],
  'screenshare-stopped': ['noticeShareStoppedBy', 'noticeShareStopped'],
  'ask-unmute': ['noticeAskUnmuteBy', 'noticeAskUnmute'],
  'unmute-allowed': ['noticeUnmuteAllowed', 'noticeUnmuteAllowed'],
  'unmute-blocked': ['noticeUnmuteBlocked', 'noticeUnmuteBlocked'],
  'role-host': ['noticeRoleHost', 'noticeRoleHost'],
  'role-cohost': ['noticeRoleCohost', 'noticeRoleCohost'],
  'role-participant': ['noticeRoleParticipant', 'noticeRoleParticipant'],
  'role-viewer': ['noticeRoleViewer', 'noticeRoleViewer'],
  'on-stage': ['noticeOnStage', 'noticeOnStage'],
  'off-stage': ['noticeOffStage', 'noticeOffStage'],
  renamed: ['noticeRenamed', 'noticeRenamed'],
  'hand-lowered': ['noticeHandLoweredBy', 'noticeHandLowered'],
  'chat-disabled': ['noticeChatDisabled', 'noticeChatDisabled'],
  'screenshare-disabled': ['noticeShareDisabled', 'noticeShareDisabled'],
};

/** noticeText is what a notice says; null for a code this app does not know. */
export function noticeText(n: Notice): { key: Key; params: Record<string, string> } | null {
  const k = noticeKeys[n.code];
  if (!k) return null;
  return { key: n.by ? k[0] : k[1], params: { by: n.by, name: n.detail } };
}

/** Controls is what the meeting's own controls look like for one person. */
export interface Controls {
  media: boolean; // microphone and camera buttons shown
  share: 'shown' | 'disabled' | 'hidden';
  chat: boolean; // may write in the chat
  unmuteBlocked: boolean; // the microphone may not be turned on now
  hostPanel: boolean;
}

/** controlsFor applies the meeting's settings to one person: moderators keep everything; a
 *  viewer off stage (or anyone the server took publishing from) gets no media controls. */
export function controlsFor(role: Role, canPublish: boolean, s: Settings): Controls {
  const mod = isModerator(role);
  const media = canPublish;
  return {
    media,
    share: !media ? 'hidden' : s.screenShare === 'hosts' && !mod ? 'disabled' : 'shown',
    chat: mod || s.chat,
    unmuteBlocked: !mod && s.unmute === 'blocked',
    hostPanel: mod,
  };
}

/** Action lists what a host may do to one participant, in the menu's order. */
export type Action =
  | 'mute-mic'
  | 'mute-camera'
  | 'ask-unmute'
  | 'stop-screenshare'
  | 'spotlight'
  | 'bring-to-stage'
  | 'lower-hand'
  | 'rename'
  | 'set-role-host'
  | 'set-role-cohost'
  | 'set-role-participant'
  | 'set-role-viewer'
  | 'remove-participant';

export interface Target {
  role: Role;
  stage: boolean;
  mic: boolean;
  camera: boolean;
  sharing: boolean;
  hand: boolean;
  local: boolean;
}

/** menuFor is the per-participant menu a moderator sees. A cohost cannot touch a host's role or
 *  hand over the chair; nobody removes themselves or changes their own role from here. */
export function menuFor(me: Role, t: Target): Action[] {
  if (!isModerator(me)) return [];
  const out: Action[] = [];
  if (t.mic) out.push('mute-mic');
  if (t.camera) out.push('mute-camera');
  if (!t.mic && !t.local && (t.role !== 'viewer' || t.stage)) out.push('ask-unmute');
  if (t.sharing) out.push('stop-screenshare');
  out.push('spotlight');
  if (t.role === 'viewer') out.push('bring-to-stage');
  if (t.hand) out.push('lower-hand');
  out.push('rename');
  if (!t.local && !(me === 'cohost' && t.role === 'host')) {
    const roles: Role[] = me === 'host' ? ['host', 'cohost', 'participant', 'viewer'] : ['cohost', 'participant', 'viewer'];
    for (const r of roles) if (r !== t.role) out.push(`set-role-${r}` as Action);
    out.push('remove-participant');
  }
  return out;
}

export const actionKey: Record<Action, Key> = {
  'mute-mic': 'actMuteMic',
  'mute-camera': 'actMuteCamera',
  'ask-unmute': 'actAskUnmute',
  'stop-screenshare': 'actStopShare',
  spotlight: 'actSpotlight',
  'bring-to-stage': 'actBringToStage',
  'lower-hand': 'actLowerHand',
  rename: 'actRename',
  'set-role-host': 'actMakeHost',
  'set-role-cohost': 'actMakeCohost',
  'set-role-participant': 'actMakeParticipant',
  'set-role-viewer': 'actMakeViewer',
  'remove-participant': 'actRemove',
};

/** waitedText is how long someone has waited, in whole minutes ("vừa xong" under one). */
export function waitedMinutes(since: number, now: number): number {
  return Math.max(0, Math.floor((now - since) / 60000));
}

/** request is the JSON API body for a menu action on identity (rename and remove take more). */
export function requestFor(a: Action, identity: string, o: { spotlighted?: boolean; stage?: boolean } = {}): Record<string, unknown> {
  switch (a) {
    case 'mute-mic':
      return { action: 'mute', identity, source: 'microphone' };
    case 'mute-camera':
      return { action: 'mute', identity, source: 'camera' };
    case 'ask-unmute':
      return { action: 'ask-unmute', identity };
    case 'stop-screenshare':
      return { action: 'stop-screenshare', identity };
    case 'spotlight':
      return { action: 'spotlight', identity: o.spotlighted ? '' : identity };
    case 'bring-to-stage':
      return { action: 'stage', identity, on: !o.stage };
    case 'lower-hand':
      return { action: 'lower-hand', identity };
    case 'rename':
      return { action: 'rename', identity };
    case 'remove-participant':
      return { action: 'remove', identity, bar: false };
    default:
      return { action: 'set-role', identity, role: a.slice('set-role-'.length) };
  }
}
