// Which tiles the meeting shows, where and how large: pure functions of the participants and the
// window, so they are unit-tested without a browser.

export type Mode = 'grid' | 'speaker';

export interface Item {
  key: string; // identity, or identity + ':screen' for a screen share
  identity: string;
  screen: boolean;
  local: boolean;
  lastSpokeAt: number; // 0: never
}

export interface LayoutInput {
  items: Item[]; // in join order
  mode: Mode;
  pinned?: string; // an item key
  width: number; // of the stage, CSS pixels
  height: number;
  page: number;
}

export interface Layout {
  mode: Mode;
  main?: Item; // speaker mode: the large tile
  tiles: Item[]; // grid mode: this page's tiles; speaker mode: the strip
  cols: number;
  rows: number;
  tileW: number;
  tileH: number;
  page: number;
  pages: number;
}

const GAP = 8;
const MIN_TILE_W = 160;
const ASPECT = 16 / 9;

/** bestGrid picks the columns and rows that make n 16:9 tiles largest in w x h. */
export function bestGrid(n: number, w: number, h: number): { cols: number; rows: number; tileW: number; tileH: number } {
  let best = { cols: 1, rows: 1, tileW: 0, tileH: 0 };
  for (let cols = 1; cols <= Math.max(1, n); cols++) {
    const rows = Math.ceil(Math.max(1, n) / cols);
    let tw = (w - GAP * (cols - 1)) / cols;
    let th = (h - GAP * (rows - 1)) / rows;
    if (tw / th > ASPECT) tw = th * ASPECT;
    else th = tw / ASPECT;
    if (tw * th > best.tileW * best.tileH) best = { cols, rows, tileW: Math.floor(tw), tileH: Math.floor(th) };
  }
  return best;
}

/** pageSize is how many tiles one grid page holds: as many as keep tiles at least MIN_TILE_W
 *  wide, at most 16 (9 on a phone). */
export function pageSize(w: number, h: number): number {
  const cap = w < 600 ? 9 : 16;
  let n = 1;
  for (let k = 2; k <= cap; k++) {
    if (bestGrid(k, w, h).tileW >= MIN_TILE_W) n = k;
  }
  return n;
}

/** order puts pinned first, then screen shares, then everyone in join order with the local
 *  participant first among them. */
export function order(items: Item[], pinned?: string): Item[] {
  const rank = (i: Item) => (i.key === pinned ? 0 : i.screen ? 1 : i.local ? 2 : 3);
  return items.map((it, idx) => ({ it, idx })).sort((a, b) => rank(a.it) - rank(b.it) || a.idx - b.idx).map((x) => x.it);
}

/** chooseLayout decides the view: a screen share or a pin makes the speaker view with it as the
 *  main tile; otherwise the chosen mode. In the grid, recent speakers beyond the first page are
 *  brought onto it in place of the quietest. */
export function chooseLayout(inp: LayoutInput): Layout {
  const items = order(inp.items, inp.pinned);
  const screen = items.find((i) => i.screen);
  const pinned = items.find((i) => i.key === inp.pinned);
  let mode = inp.mode;
  if (screen || pinned) mode = 'speaker';
  if (mode === 'speaker' && items.length > 0) {
    const main = pinned ?? screen ?? speakerOf(items);
    const rest = items.filter((i) => i !== main);
    const stripW = Math.min(200, Math.max(120, Math.floor(inp.width / 6)));
    const stripH = Math.floor(stripW / ASPECT);
    return { mode, main, tiles: rest, cols: rest.length, rows: 1, tileW: stripW, tileH: stripH, page: 0, pages: 1 };
  }
  const size = pageSize(inp.width, inp.height);
  const pages = Math.max(1, Math.ceil(items.length / size));
  const page = Math.min(Math.max(0, inp.page), pages - 1);
  let pageItems = items.slice(page * size, page * size + size);
  if (page === 0 && pages > 1) pageItems = promoteSpeakers(items, size);
  const g = bestGrid(pageItems.length, inp.width, inp.height);
  return { mode: 'grid', tiles: pageItems, ...g, page, pages };
}

/** speakerOf is who the speaker view shows: the most recent remote speaker, else the first
 *  remote participant, else the local one. */
export function speakerOf(items: Item[]): Item {
  const remote = items.filter((i) => !i.local && !i.screen);
  const spoke = [...remote].sort((a, b) => b.lastSpokeAt - a.lastSpokeAt)[0];
  if (spoke && spoke.lastSpokeAt > 0) return spoke;
  return remote[0] ?? items[0];
}

function promoteSpeakers(items: Item[], size: number): Item[] {
  const first = items.slice(0, size);
  const later = items.slice(size).filter((i) => i.lastSpokeAt > 0).sort((a, b) => b.lastSpokeAt - a.lastSpokeAt);
  for (const s of later) {
    // Replace the quietest non-local, non-pinned tile that spoke less recently.
    let victim = -1;
    for (let i = first.length - 1; i >= 0; i--) {
      const c = first[i];
      if (!c.local && !c.screen && c.lastSpokeAt < s.lastSpokeAt && (victim < 0 || c.lastSpokeAt < first[victim].lastSpokeAt)) victim = i;
    }
    if (victim < 0) break;
    first[victim] = s;
  }
  return first;
}

/** handOrder lists raised hands, earliest first, from identity → raised-at (ms). */
export function handOrder(hands: Map<string, number>): string[] {
  return [...hands.entries()].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)).map(([id]) => id);
}
