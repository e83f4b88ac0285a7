// The node's meeting endpoints. Every refusal comes back as a code the page translates.

export class ApiError extends Error {
  constructor(
    readonly code: string,
    readonly status = 0,
    readonly retryAfter = 0,
  ) {
    super(code);
  }
}

export type Role = 'host' | 'participant' | 'viewer';

export interface JoinAnswer {
  token: string;
  url: string;
  room: string;
  role: Role;
  identity: string;
}

async function call<T>(path: string, body?: unknown, bearer?: string): Promise<T> {
  let res: Response;
  try {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    res = await fetch(path, { method: body === undefined ? 'GET' : 'POST', headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
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

export function exchange(req: { invite?: string; room?: string; name: string }): Promise<JoinAnswer> {
  return call('/api/join', req);
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
