// The node's meeting endpoints. Every refusal comes back as a code the page translates.

import { parseSettings, parseWaiting, type Role, type Settings, type Waiting } from './control';

export class ApiError extends Error {
  constructor(
    readonly code: string,
    readonly status = 0,
    readonly retryAfter = 0,
  ) {
    super(code);
  }
}

export type { Role };

export interface JoinAnswer {
  token: string;
  url: string;
  room: string;
  role: Role;
  identity: string;
}

async function call<T>(path: string, body?: unknown, bearer?: string, signal?: AbortSignal): Promise<T> {
  let res: Response;
  try {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    res = await fetch(path, { method: body === undefined ? 'GET' : 'POST', headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  } catch {
    if (signal?.aborted) throw new ApiError('cancelled');
    throw new ApiError('unreachable');
  }
  let data: Record<string, unknown> = {};
  try {
    data = (await res.json()) as Record<string, unknown>;
  } catch {
    // A proxy's error page or an empty body: the status says enough.
  }
  if (!res.ok) {
    const code = typeof data.error === 'string' ? data.error : res.status >= 500 ? 'unreachable' : 'bad_request';
    throw new ApiError(code, res.status, Number(res.headers.get('Retry-After') ?? 0));
  }
  return data as T;
}

export function getConfig(): Promise<{ dev: boolean }> {
  return call('/api/config');
}

export function createMeeting(room?: string): Promise<{ room: string; hostInvite: string; invite: string }> {
  return call('/api/meetings', room ? { room } : {});
}

/** Waiting is /api/join's answer when the meeting has a lobby: wait on the ticket. */
export interface LobbyTicket {
  status: 'waiting';
  ticket: string;
}

export function exchange(req: { invite?: string; room?: string; name: string; password?: string; device?: string }): Promise<JoinAnswer | LobbyTicket> {
  return call('/api/join', req);
}

/** lobbyPoll asks once (the node holds the request for a while) whether a waiting person was let
 *  in; refusals come back as ApiError lobby_denied / lobby_timeout. */
export function lobbyPoll(ticket: string, signal?: AbortSignal): Promise<{ status?: string; token?: string; url?: string; room?: string; role?: Role; identity?: string }> {
  return call(`/api/lobby/${encodeURIComponent(ticket)}`, undefined, undefined, signal);
}

/** leaveLobby takes this person out of the hosts' queue (best effort: the node also drops a
 *  knock whose page stopped polling). */
export function leaveLobby(ticket: string): void {
  void fetch(`/api/lobby/${encodeURIComponent(ticket)}`, { method: 'DELETE' }).catch(() => undefined);
}

/** tokenClaims reads the join token's own claims (room, identity, role) when an answer does not
 *  repeat them; the token is the node's, so nothing here is trusted for anything but display. */
export function tokenClaims(token: string): { room?: string; identity?: string; role?: string } {
  try {
    const b64 = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(Uint8Array.from(atob(b64 + '==='.slice((b64.length + 3) % 4)), (c) => c.charCodeAt(0)));
    const v = JSON.parse(json) as { sub?: string; video?: { room?: string }; attributes?: Record<string, string> };
    return { room: v.video?.room, identity: v.sub, role: v.attributes?.['hop.role'] };
  } catch {
    return {};
  }
}

export interface ControlState {
  settings: Settings;
  waiting: Waiting[];
}

/** getControl reads the meeting's settings and lobby queue (hosts and cohosts). */
export async function getControl(room: string, bearer: string): Promise<ControlState> {
  const v = await call<{ settings?: unknown; waiting?: unknown }>(`/api/rooms/${encodeURIComponent(room)}/control`, undefined, bearer);
  return { settings: parseSettings(JSON.stringify(v.settings ?? {}))!, waiting: parseWaiting(v.waiting) };
}

/** control asks the node to do one meeting-control action; the node checks the caller's role. */
export function control(room: string, bearer: string, body: Record<string, unknown>): Promise<{ ok: boolean }> {
  return call(`/api/rooms/${encodeURIComponent(room)}/control`, body, bearer);
}

export function makeInvite(room: string, role: Role, bearer?: string): Promise<{ invite: string }> {
  return call('/api/invites', { room, role }, bearer);
}

/** meetingLink is what an invitation is shared as: the invitation rides in the fragment, which
 *  browsers never send to a server. */
export function meetingLink(room: string, invite?: string): string {
  const base = `${location.origin}/m/${encodeURIComponent(room)}`;
  return invite ? `${base}#invite=${invite}` : base;
}

/** Recording is one of a meeting's recordings as its hosts see it. */
export interface Recording {
  id: string;
  status: 'active' | 'ending' | 'complete' | 'failed';
  startedAt: number; // ms since the epoch
  endedAt: number; // 0 while it runs
  files: { name: string; link?: string; size: number }[];
}

const recStatus: Record<string, Recording['status']> = {
  EGRESS_STARTING: 'active',
  EGRESS_ACTIVE: 'active',
  EGRESS_ENDING: 'ending',
  EGRESS_COMPLETE: 'complete',
};

/** parseRecordings reads the node's list (LiveKit's ListEgressResponse as protobuf JSON), newest first. */
export function parseRecordings(v: unknown): Recording[] {
  const items = (v as { items?: unknown[] })?.items;
  if (!Array.isArray(items)) return [];
  const ns = (x: unknown) => Math.floor(Number(x ?? 0) / 1e6);
  const out: Recording[] = [];
  for (const raw of items) {
    const i = raw as { egressId?: string; status?: string; startedAt?: string; endedAt?: string; fileResults?: { filename?: string; location?: string; size?: string }[] };
    if (!i?.egressId) continue;
    out.push({
      id: i.egressId,
      status: recStatus[i.status ?? ''] ?? 'failed',
      startedAt: ns(i.startedAt),
      endedAt: ns(i.endedAt),
      files: (i.fileResults ?? [])
        .filter((f) => f.filename)
        .map((f) => ({ name: f.filename!, link: /^https?:\/\//.test(f.location ?? '') ? f.location : undefined, size: Number(f.size ?? 0) })),
    });
  }
  return out.sort((a, b) => b.startedAt - a.startedAt);
}

function recordingsPath(room: string, id?: string): string {
  return `/api/rooms/${encodeURIComponent(room)}/recordings${id ? `/${encodeURIComponent(id)}` : ''}`;
}

/** listRecordings lists the meeting's recordings (its hosts). */
export async function listRecordings(room: string, bearer: string): Promise<Recording[]> {
  return parseRecordings(await call(recordingsPath(room), undefined, bearer));
}

/** send makes one request beyond call's GET and POST and throws the node's refusal code. */
async function send(method: string, path: string, bearer: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(path, { method, headers: { Authorization: `Bearer ${bearer}` } });
  } catch {
    throw new ApiError('unreachable');
  }
  if (!res.ok) {
    let code = res.status >= 500 ? 'unreachable' : 'bad_request';
    try {
      const data = (await res.json()) as { error?: unknown };
      if (typeof data.error === 'string') code = data.error;
    } catch {
      // no JSON body
    }
    throw new ApiError(code, res.status);
  }
  return res;
}

/** deleteRecording deletes a finished recording, here and in the store. */
export async function deleteRecording(room: string, id: string, bearer: string): Promise<void> {
  await send('DELETE', recordingsPath(room, id), bearer);
}

/** fetchRecording downloads one of a recording's files kept on the node (a stored one has its own
 *  signed link): the token goes in a header, never in a URL. */
export async function fetchRecording(room: string, id: string, name: string, bearer: string): Promise<Blob> {
  const res = await send('GET', `${recordingsPath(room, id)}/files/${encodeURIComponent(name)}`, bearer);
  return res.blob();
}
