// Every string the page shows lives here: Vietnamese first, English second.

export type Lang = 'vi' | 'en';

const vi = {
  pageTitle: 'Hop — Họp trực tuyến',
  joinTitle: 'Tham gia cuộc họp',
  roomLabel: 'Tên phòng',
  nameLabel: 'Tên hiển thị',
  tokenLabel: 'Mã truy cập (token)',
  tokenHint:
    'Máy chủ này không ở chế độ phát triển. Dán mã truy cập được tạo bằng lệnh `hop token`.',
  join: 'Tham gia',
  joining: 'Đang kết nối…',
  leave: 'Rời phòng',
  micOn: 'Tắt micrô',
  micOff: 'Bật micrô',
  camOn: 'Tắt camera',
  camOff: 'Bật camera',
  enableAudio: 'Bật âm thanh',
  chat: 'Trò chuyện',
  send: 'Gửi',
  chatPlaceholder: 'Nhập tin nhắn…',
  you: 'Bạn',
  micMuted: 'Micrô đang tắt',
  camMuted: 'Camera đang tắt',
  participants: '{n} người tham gia',
  participantsOne: '1 người tham gia',
  switchLang: 'English',
  errNoToken: 'Vui lòng dán mã truy cập.',
  errDevToken: 'Không lấy được mã truy cập từ máy chủ (HTTP {status}).',
  errConnect: 'Không kết nối được: {msg}',
  errMedia: 'Không bật được camera hoặc micrô: {msg}',
  errSend: 'Không gửi được tin nhắn: {msg}',
  disconnected: 'Đã ngắt kết nối khỏi phòng.',
  reconnecting: 'Mất kết nối, đang kết nối lại…',
};

export type Key = keyof typeof vi;

const en: Record<Key, string> = {
  pageTitle: 'Hop — Video meetings',
  joinTitle: 'Join a meeting',
  roomLabel: 'Room name',
  nameLabel: 'Display name',
  tokenLabel: 'Access token',
  tokenHint: 'This server is not in development mode. Paste an access token made with `hop token`.',
  join: 'Join',
  joining: 'Connecting…',
  leave: 'Leave',
  micOn: 'Mute microphone',
  micOff: 'Unmute microphone',
  camOn: 'Turn camera off',
  camOff: 'Turn camera on',
  enableAudio: 'Enable audio',
  chat: 'Chat',
  send: 'Send',
  chatPlaceholder: 'Type a message…',
  you: 'You',
  micMuted: 'Microphone off',
  camMuted: 'Camera off',
  participants: '{n} participants',
  participantsOne: '1 participant',
  switchLang: 'Tiếng Việt',
  errNoToken: 'Please paste an access token.',
  errDevToken: 'Could not get an access token from the server (HTTP {status}).',
  errConnect: 'Could not connect: {msg}',
  errMedia: 'Could not turn on the camera or microphone: {msg}',
  errSend: 'Could not send the message: {msg}',
  disconnected: 'Disconnected from the room.',
  reconnecting: 'Connection lost, reconnecting…',
};

const tables: Record<Lang, Record<Key, string>> = { vi, en };

function isLang(v: string | null | undefined): v is Lang {
  return v === 'vi' || v === 'en';
}

/** ?lang= wins, then the browser's language; Vietnamese when neither says vi or en. */
export function detectLang(search: string = location.search, navLangs: readonly string[] = navigator.languages ?? [navigator.language]): Lang {
  const q = new URLSearchParams(search).get('lang')?.toLowerCase();
  if (isLang(q)) return q;
  for (const l of navLangs) {
    const base = l.toLowerCase().split('-')[0];
    if (isLang(base)) return base;
  }
  return 'vi';
}

let current: Lang = detectLang();

export function lang(): Lang {
  return current;
}

export function setLang(l: Lang): void {
  current = l;
}

/** t looks a string up in the current language and fills {name} placeholders. */
export function t(key: Key, params?: Record<string, string | number>): string {
  let s = tables[current][key] ?? tables.vi[key];
  if (params) {
    for (const [k, v] of Object.entries(params)) s = s.replaceAll(`{${k}}`, String(v));
  }
  return s;
}
