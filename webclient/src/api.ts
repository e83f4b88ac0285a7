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
