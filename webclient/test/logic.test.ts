import { describe, expect, it } from 'vitest';
import { decodeChat, encodeChat } from '../src/chat';
import { browserHelpKey, problemKey, problemOf } from '../src/devices';
import { detectLang, type Key, tables } from '../src/i18n';
import { bestGrid, chooseLayout, handOrder, type Item, pageSize } from '../src/layout';
import { cleanName, initials, linkify, parseMeetingInput } from '../src/names';

const item = (key: string, o: Partial<Item> = {}): Item => ({ key, identity: key.split(':')[0], screen: key.endsWith(':screen'), local: false, lastSpokeAt: 0, ...o });

describe('layout', () => {
  it('makes the grid whose 16:9 tiles are largest', () => {
    expect(bestGrid(1, 1000, 600)).toMatchObject({ cols: 1, rows: 1 });
    expect(bestGrid(4, 1366, 700)).toMatchObject({ cols: 2, rows: 2 });
    expect(bestGrid(3, 1366, 400)).toMatchObject({ cols: 3, rows: 1 });
    // A phone held upright stacks tiles.
    expect(bestGrid(4, 374, 680)).toMatchObject({ cols: 1, rows: 4 });
  });

  it('pages the grid so tiles stay readable', () => {
    expect(pageSize(1366, 700)).toBe(16);
    expect(pageSize(374, 680)).toBeLessThanOrEqual(9);
    const items = Array.from({ length: 30 }, (_, i) => item(`p${i}`, { local: i === 0 }));
    const l = chooseLayout({ items, mode: 'grid', width: 1366, height: 700, page: 5 });
    expect(l.pages).toBe(2);
    expect(l.page).toBe(1); // clamped to the last page
    expect(l.tiles.map((i) => i.key)).toEqual(items.slice(16).map((i) => i.key));
  });

  it('brings a speaker from a later page onto the first', () => {
    const items = Array.from({ length: 20 }, (_, i) => item(`p${i}`, { local: i === 0 }));
    items[18].lastSpokeAt = 100;
    const l = chooseLayout({ items, mode: 'grid', width: 1366, height: 700, page: 0 });
    expect(l.tiles.map((i) => i.key)).toContain('p18');
    expect(l.tiles.map((i) => i.key)).toContain('p0');
    expect(l.tiles).toHaveLength(16);
  });

  it('makes a screen share the main tile for everyone', () => {
    const items = [item('me', { local: true }), item('an'), item('an:screen')];
    const l = chooseLayout({ items, mode: 'grid', width: 1366, height: 700, page: 0 });
    expect(l.mode).toBe('speaker');
    expect(l.main?.key).toBe('an:screen');
    expect(l.tiles.map((i) => i.key)).toEqual(['me', 'an']);
  });

  it('shows the pinned tile, else the latest remote speaker, in speaker view', () => {
    const items = [item('me', { local: true, lastSpokeAt: 50 }), item('an', { lastSpokeAt: 10 }), item('binh', { lastSpokeAt: 20 })];
    expect(chooseLayout({ items, mode: 'speaker', width: 1366, height: 700, page: 0 }).main?.key).toBe('binh');
    expect(chooseLayout({ items, mode: 'grid', pinned: 'an', width: 1366, height: 700, page: 0 }).main?.key).toBe('an');
    const quiet = [item('me', { local: true }), item('an'), item('binh')];
    expect(chooseLayout({ items: quiet, mode: 'speaker', width: 1366, height: 700, page: 0 }).main?.key).toBe('an');
  });

  it('orders raised hands by time', () => {
    expect(handOrder(new Map([['b', 20], ['a', 30], ['c', 10]]))).toEqual(['c', 'b', 'a']);
  });
});

describe('names', () => {
  it('takes the initial of the given name, the last word', () => {
    expect(initials('Nguyễn Văn An')).toBe('A');
    expect(initials('Trần Thị Ánh')).toBe('Á');
    expect(initials('đặng thị hương'.normalize('NFD'))).toBe('H');
    expect(initials('  Lê  Đức ')).toBe('Đ');
    expect(initials('')).toBe('?');
    expect(initials('An 🙂')).toBe('A');
  });

  it('cleans display names as the server does', () => {
    expect(cleanName('  Nguyễn   Văn\tAn ')).toBe('Nguyễn Văn An');
    expect(cleanName('Hà'.normalize('NFD'))).toBe('Hà');
  });

  it('finds links in chat text', () => {
    expect(linkify('xem https://hop.vn/a?b=1, và www.gov.vn.')).toEqual([
      { text: 'xem ' },
      { text: 'https://hop.vn/a?b=1', href: 'https://hop.vn/a?b=1' },
      { text: ', và ' },
      { text: 'www.gov.vn', href: 'https://www.gov.vn' },
      { text: '.' },
    ]);
    expect(linkify('javascript:alert(1)')).toEqual([{ text: 'javascript:alert(1)' }]);
  });

  it('reads a pasted link or a typed code', () => {
    expect(parseMeetingInput('https://hop.example.vn/m/abc-defg-hij#invite=h1.x.y')).toEqual({ room: 'abc-defg-hij', invite: 'h1.x.y' });
    expect(parseMeetingInput('http://h/m/giao%20ban')).toEqual({ room: 'giao ban', invite: undefined });
    expect(parseMeetingInput(' abc-defg-hij ')).toEqual({ room: 'abc-defg-hij' });
    expect(parseMeetingInput('https://other.example/x')).toBeNull();
    expect(parseMeetingInput('  ')).toBeNull();
  });
});

describe('i18n', () => {
  const keys = Object.keys(tables.vi) as Key[];
  it('has every string in both languages, with the same placeholders', () => {
    expect(Object.keys(tables.en).sort()).toEqual([...keys].sort());
    for (const k of keys) {
      expect(tables.vi[k].trim(), k).not.toBe('');
      expect(tables.en[k].trim(), k).not.toBe('');
      const ph = (s: string) => (s.match(/\{\w+\}/g) ?? []).sort();
      expect(ph(tables.en[k]), k).toEqual(ph(tables.vi[k]));
    }
  });

  it('writes Vietnamese with its diacritics', () => {
    expect(tables.vi.shareStart).toBe('Chia sẻ màn hình');
    expect(tables.vi.handRaise).toBe('Giơ tay');
    expect(tables.vi.leave).toBe('Rời cuộc họp');
    expect(tables.vi.copyInvite).toBe('Sao chép lời mời');
    expect(tables.vi.micTurnOff).toMatch(/^Tắt micrô/);
  });

  it('is Vietnamese unless English was chosen', () => {
    expect(detectLang('', null)).toBe('vi');
    expect(detectLang('', 'en')).toBe('en');
    expect(detectLang('?lang=en', 'vi')).toBe('en');
    expect(detectLang('?lang=fr', null)).toBe('vi');
  });
});

describe('media problems and chat', () => {
  it('explains each getUserMedia failure', () => {
    const err = (name: string) => Object.assign(new Error(name), { name });
    expect(problemKey(problemOf(err('NotAllowedError')), 'camera')).toBe('errCameraDenied');
    expect(problemKey(problemOf(err('NotFoundError')), 'mic')).toBe('errNoMic');
    expect(problemKey(problemOf(err('NotReadableError')), 'camera')).toBe('errCameraBusy');
    expect(browserHelpKey('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36')).toBe('helpChrome');
    expect(browserHelpKey('Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1')).toBe('helpIOS');
    expect(browserHelpKey('Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0')).toBe('helpFirefox');
  });

  it('round-trips chat payloads and refuses what is not chat', () => {
    const { payload, id } = encodeChat('Chào cả nhà', 'Lê Thị Hoa');
    expect(decodeChat(payload)).toMatchObject({ id, message: 'Chào cả nhà', name: 'Lê Thị Hoa' });
    // LiveKit's components send no name.
    expect(decodeChat(new TextEncoder().encode('{"id":"x","timestamp":1,"message":"hi"}'))).toEqual({ id: 'x', timestamp: 1, message: 'hi', name: undefined });
    expect(decodeChat(new TextEncoder().encode('{"x":1}'))).toBeNull();
    expect(decodeChat(new TextEncoder().encode('not json'))).toBeNull();
  });
});
