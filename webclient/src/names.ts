// Names as people see them: display names, initials, times, links in chat text.

/** cleanName tidies a typed display name as the server does: NFC, white space collapsed. */
export function cleanName(s: string): string {
  return s.normalize('NFC').replace(/[\p{Cc}\s]+/gu, ' ').trim().slice(0, 64);
}

/** initials is the avatar letter: Vietnamese names end with the given name ("Nguyễn Văn An" is
 *  called An), so the last word's first letter; two words of a single-word name are not guessed. */
export function initials(name: string): string {
  const words = cleanName(name).split(' ').filter((w) => /\p{L}|\p{N}/u.test(w));
  const last = words[words.length - 1];
  if (!last) return '?';
  const first = Array.from(last.normalize('NFC'))[0] ?? '?';
  return first.toLocaleUpperCase('vi');
}

/** avatarHue gives a stable colour per identity. */
export function avatarHue(identity: string): number {
  let x = 0;
  for (const c of identity) x = (x * 31 + (c.codePointAt(0) ?? 0)) % 360;
  return x;
}

/** formatTime shows a chat time the way each language writes it (14:05 in both). */
export function formatTime(at: Date, lang: 'vi' | 'en'): string {
  return new Intl.DateTimeFormat(lang === 'vi' ? 'vi-VN' : 'en-GB', { hour: '2-digit', minute: '2-digit', hour12: false }).format(at);
}

export type Piece = { text: string; href?: string };

/** linkify splits chat text into plain pieces and web links (http, https, www.). */
export function linkify(text: string): Piece[] {
  const out: Piece[] = [];
  const re = /\b((?:https?:\/\/|www\.)[^\s<>"]+[^\s<>".,;:!?)\]'])/gi;
  let at = 0;
  for (const m of text.matchAll(re)) {
    const i = m.index ?? 0;
    if (i > at) out.push({ text: text.slice(at, i) });
    const url = m[1];
    out.push({ text: url, href: url.toLowerCase().startsWith('www.') ? `https://${url}` : url });
    at = i + url.length;
  }
  if (at < text.length) out.push({ text: text.slice(at) });
  return out;
}

/** parseMeetingInput reads what someone typed or pasted on the home page: a meeting link (its
 *  room and the invitation in its fragment) or a code or meeting name. */
export function parseMeetingInput(input: string): { room: string; invite?: string } | null {
  const s = input.trim();
  if (!s) return null;
  if (/^(https?:\/\/|\/m\/)/i.test(s)) {
    try {
      const u = new URL(s, 'http://x');
      const m = /^\/m\/(.+)$/.exec(u.pathname);
      if (!m) return null;
      const invite = new URLSearchParams(u.hash.slice(1)).get('invite') ?? undefined;
      return { room: decodeURIComponent(m[1]), invite };
    } catch {
      return null;
    }
  }
  return { room: s };
}
