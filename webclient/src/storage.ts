// What the app remembers in this browser: the name, devices, recent meetings.

export interface Recent {
  room: string;
  link: string;
  at: number;
}

function get(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function set(key: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // Private mode or storage full: remembering is a convenience.
  }
}

export const store = {
  name: () => get('hop.name') ?? '',
  setName: (v: string) => set('hop.name', v),
  device: (kind: MediaDeviceKind) => get(`hop.device.${kind}`) ?? undefined,
  setDevice: (kind: MediaDeviceKind, id: string) => set(`hop.device.${kind}`, id),
  lang: () => get('hop.lang'),
  setLang: (v: string) => set('hop.lang', v),
  /** deviceKey is this browser's random key: with the same name it gets the same identity in a
   *  meeting, so a host's "do not let them rejoin" holds (the node keys identities by it). */
  deviceKey(): string {
    let k = get('hop.deviceKey');
    if (!k) {
      k = crypto.randomUUID();
      set('hop.deviceKey', k);
    }
    return k;
  },
  recent(): Recent[] {
    try {
      const v = JSON.parse(get('hop.recent') ?? '[]') as Recent[];
      return Array.isArray(v) ? v.filter((r) => typeof r.room === 'string' && typeof r.link === 'string') : [];
    } catch {
      return [];
    }
  },
  addRecent(r: Recent): void {
    const list = [r, ...this.recent().filter((x) => x.room !== r.room)].slice(0, 8);
    set('hop.recent', JSON.stringify(list));
  },
  // The invitation of the meeting this tab is in, so a reload or a rejoin needs no new link.
  invite: (room: string) => sessionStorage.getItem(`hop.invite.${room}`) ?? undefined,
  setInvite: (room: string, inv: string) => sessionStorage.setItem(`hop.invite.${room}`, inv),
};
