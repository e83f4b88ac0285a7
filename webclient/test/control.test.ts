import { describe, expect, it } from 'vitest';
import { tokenClaims } from '../src/api';
import {
  badgeRole,
  controlsFor,
  defaultSettings,
  menuFor,
  newArrivals,
  noticeText,
  parseLobby,
  parseNotice,
  parseSettings,
  requestFor,
  roleKey,
  roleOf,
  type Settings,
  type Target,
  waitedMinutes,
} from '../src/control';
import { t, setLang, tables } from '../src/i18n';

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const target = (o: Partial<Target> = {}): Target => ({ role: 'participant', stage: false, mic: true, camera: true, sharing: false, hand: false, local: false, ...o });

describe('roles', () => {
  it('reads the role the node set, and nothing else', () => {
    expect(roleOf({ 'hop.role': 'host' })).toBe('host');
    expect(roleOf({ 'hop.role': 'cohost' })).toBe('cohost');
    expect(roleOf({ 'hop.role': 'viewer' })).toBe('viewer');
    expect(roleOf({ 'hop.role': 'admin' })).toBe('participant');
    expect(roleOf({})).toBe('participant');
    expect(roleOf(undefined)).toBe('participant');
  });

  it('names roles as a Vietnamese meeting does', () => {
    setLang('vi');
    expect(t(roleKey.host)).toBe('Chủ tọa');
    expect(t(roleKey.cohost)).toBe('Đồng chủ tọa');
    expect(t(roleKey.participant)).toBe('Khách mời');
    expect(t(roleKey.viewer)).toBe('Người xem');
    setLang('en');
    expect(t(roleKey.cohost)).toBe('Co-host');
    setLang('vi');
    // Tiles name the roles that matter; an ordinary participant carries no badge.
    expect(badgeRole('participant')).toBeNull();
    expect(badgeRole('host')).toBe('host');
  });
});

describe('controls per role and setting', () => {
  const s = (o: Partial<Settings> = {}): Settings => ({ ...defaultSettings, ...o });

  it('gives a viewer off stage no media controls, and everything once on stage', () => {
    expect(controlsFor('viewer', false, s())).toMatchObject({ media: false, share: 'hidden', chat: true, hostPanel: false });
    expect(controlsFor('viewer', true, s())).toMatchObject({ media: true, share: 'shown' });
  });

  it('applies "hosts only" screen sharing to participants, not to hosts', () => {
    expect(controlsFor('participant', true, s({ screenShare: 'hosts' })).share).toBe('disabled');
    expect(controlsFor('cohost', true, s({ screenShare: 'hosts' })).share).toBe('shown');
    expect(controlsFor('host', true, s({ screenShare: 'hosts' })).share).toBe('shown');
  });

  it('locks the chat and the microphone for participants only', () => {
    const off = s({ chat: false, unmute: 'blocked' });
    expect(controlsFor('participant', true, off)).toMatchObject({ chat: false, unmuteBlocked: true });
    expect(controlsFor('viewer', true, off)).toMatchObject({ chat: false, unmuteBlocked: true });
    expect(controlsFor('host', true, off)).toMatchObject({ chat: true, unmuteBlocked: false, hostPanel: true });
    expect(controlsFor('participant', true, s())).toMatchObject({ chat: true, unmuteBlocked: false, hostPanel: false });
  });
});

describe('the node\'s packets', () => {
  it('reads the meeting settings, keeping defaults for what is missing or malformed', () => {
    const v = parseSettings(enc({ lobby: true, hasPassword: true, locked: false, chat: false, screenShare: 'hosts', unmute: 'blocked', spotlight: 'an-1', maxParticipants: 50 }));
    expect(v).toEqual({ ...defaultSettings, lobby: true, hasPassword: true, chat: false, screenShare: 'hosts', unmute: 'blocked', spotlight: 'an-1', maxParticipants: 50 });
    expect(parseSettings(enc({ chat: 'no', screenShare: 'everyone', unmute: 1 }))).toEqual(defaultSettings);
    expect(parseSettings(new TextEncoder().encode('nope'))).toBeNull();
  });

  it('reads the lobby queue and finds who just knocked', () => {
    const a = parseLobby(enc({ waiting: [{ id: 't1', name: 'Lê Hoa', since: 1000 }, { bad: 1 }] }))!;
    expect(a).toEqual([{ id: 't1', name: 'Lê Hoa', since: 1000 }]);
    const b = parseLobby(enc({ waiting: [{ id: 't1', name: 'Lê Hoa', since: 1000 }, { id: 't2', name: 'Phạm Tú', since: 2000 }] }))!;
    expect(newArrivals(a, b).map((w) => w.id)).toEqual(['t2']);
    expect(newArrivals(b, a)).toEqual([]);
    expect(parseLobby(enc({}))).toEqual([]);
  });

  it('says every notice in words, in both languages', () => {
    setLang('vi');
    const said = (code: string, by = '') => {
      const x = noticeText(parseNotice(enc({ code, by }))!);
      return x && t(x.key, x.params);
    };
    expect(said('muted-mic')).toBe('Chủ tọa đã tắt micrô của bạn.');
    expect(said('muted-mic', 'Nguyễn Văn An')).toBe('Chủ tọa Nguyễn Văn An đã tắt micrô của bạn.');
    expect(said('on-stage')).toMatch(/lên phát biểu/);
    expect(said('unknown-code')).toBeNull();
    expect(parseNotice(enc({ by: 'x' }))).toBeNull();
    const codes = ['muted-mic', 'muted-camera', 'screenshare-stopped', 'ask-unmute', 'unmute-allowed', 'unmute-blocked', 'role-host', 'role-cohost', 'role-participant', 'role-viewer', 'on-stage', 'off-stage', 'renamed', 'hand-lowered', 'chat-disabled', 'screenshare-disabled'];
    for (const lang of ['vi', 'en'] as const) {
      setLang(lang);
      for (const code of codes) {
        for (const by of ['', 'An']) {
          const s = said(code, by);
          expect(s, `${lang} ${code}`).toBeTruthy();
          expect(s, `${lang} ${code}`).not.toMatch(/[{}]/);
        }
      }
    }
    setLang('vi');
  });
});

describe('the per-participant menu', () => {
  it('offers a host everything but acting on themselves', () => {
    const m = menuFor('host', target());
    expect(m).toEqual(['mute-mic', 'mute-camera', 'spotlight', 'rename', 'set-role-host', 'set-role-cohost', 'set-role-viewer', 'remove-participant']);
    const self = menuFor('host', target({ local: true, role: 'host' }));
    expect(self).not.toContain('remove-participant');
    expect(self.some((a) => a.startsWith('set-role'))).toBe(false);
  });

  it('keeps a cohost away from the chair', () => {
    expect(menuFor('cohost', target({ role: 'host' }))).not.toContain('remove-participant');
    expect(menuFor('cohost', target({ role: 'host' })).some((a) => a.startsWith('set-role'))).toBe(false);
    expect(menuFor('cohost', target())).not.toContain('set-role-host');
    expect(menuFor('cohost', target())).toContain('set-role-cohost');
  });

  it('brings viewers on stage, asks the muted to unmute, stops shares, lowers hands', () => {
    expect(menuFor('host', target({ role: 'viewer', mic: false, camera: false }))).toContain('bring-to-stage');
    expect(menuFor('host', target({ role: 'viewer', mic: false }))).not.toContain('ask-unmute');
    expect(menuFor('host', target({ mic: false }))).toContain('ask-unmute');
    expect(menuFor('host', target({ sharing: true, hand: true }))).toEqual(expect.arrayContaining(['stop-screenshare', 'lower-hand']));
    expect(menuFor('participant', target())).toEqual([]);
    expect(menuFor('viewer', target())).toEqual([]);
  });

  it('turns each choice into the control API request', () => {
    expect(requestFor('mute-mic', 'an')).toEqual({ action: 'mute', identity: 'an', source: 'microphone' });
    expect(requestFor('mute-camera', 'an')).toEqual({ action: 'mute', identity: 'an', source: 'camera' });
    expect(requestFor('spotlight', 'an')).toEqual({ action: 'spotlight', identity: 'an' });
    expect(requestFor('spotlight', 'an', { spotlighted: true })).toEqual({ action: 'spotlight', identity: '' });
    expect(requestFor('bring-to-stage', 'an')).toEqual({ action: 'stage', identity: 'an', on: true });
    expect(requestFor('bring-to-stage', 'an', { stage: true })).toEqual({ action: 'stage', identity: 'an', on: false });
    expect(requestFor('set-role-cohost', 'an')).toEqual({ action: 'set-role', identity: 'an', role: 'cohost' });
    expect(requestFor('remove-participant', 'an')).toEqual({ action: 'remove', identity: 'an', bar: false });
    expect(requestFor('lower-hand', 'an')).toEqual({ action: 'lower-hand', identity: 'an' });
  });
});

describe('lobby and join', () => {
  it('counts waiting in whole minutes', () => {
    expect(waitedMinutes(0, 59_000)).toBe(0);
    expect(waitedMinutes(0, 125_000)).toBe(2);
    expect(waitedMinutes(10_000, 0)).toBe(0);
  });

  it('reads the room, identity and role from an admitted token', () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const tok = `${b64({ alg: 'HS256' })}.${b64({ sub: 'le-hoa-1', video: { room: 'abc-defg-hij' }, attributes: { 'hop.role': 'viewer' }, name: 'Lê Hoa' })}.sig`;
    expect(tokenClaims(tok)).toEqual({ room: 'abc-defg-hij', identity: 'le-hoa-1', role: 'viewer' });
    expect(tokenClaims('garbage')).toEqual({});
  });

  it('has words for every refusal of a join', () => {
    for (const k of ['errPasswordRequired', 'errPasswordWrong', 'errMeetingLocked', 'errRemoved', 'errRoomFull', 'errLobbyDenied', 'errLobbyTimeout'] as const) {
      expect(tables.vi[k]).toBeTruthy();
      expect(tables.en[k]).toBeTruthy();
    }
    expect(tables.vi.errMeetingLocked).toMatch(/khóa/);
  });
});
