// Drives Hop's meeting app in headless Chromium through its data-testid hooks, for app_test.go.
// Usage: node app.mjs <scenario> (the spec is JSON in HOP_APP_SPEC). Prints one JSON report line
// on stdout; exits non-zero with the failing step on stderr.
import { createRequire } from 'node:module';
import { mkdirSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', 'browser', 'package.json'));
const { chromium } = require('playwright-core');

const spec = JSON.parse(process.env.HOP_APP_SPEC || '{}');
const scenario = process.argv[2];
const base = spec.base;
const shots = spec.screenshots || join(here, 'screenshots');
mkdirSync(shots, { recursive: true });

const CHROMIUM = process.env.HOP_CHROMIUM || '/usr/bin/chromium';
const COMMON = [
  '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns', '--headless', '--no-sandbox',
  '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--autoplay-policy=no-user-gesture-required',
];
const MEDIA = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--auto-accept-this-tab-capture', '--auto-select-desktop-capture-source=Entire screen'];
const DESKTOP = { width: 1366, height: 768 };
const PHONE = { width: 390, height: 844 };
const T = 20000;

const report = { scenario, steps: [], urls: [] };
const browsers = [];

async function launch(args = MEDIA) {
  const b = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...COMMON, ...args], timeout: T });
  browsers.push(b);
  return b;
}

async function person(browser, viewport = DESKTOP, opts = {}) {
  const ctx = await browser.newContext({ viewport, isMobile: viewport === PHONE, hasTouch: viewport === PHONE, ...opts });
  const page = await ctx.newPage();
  page.on('request', (r) => report.urls.push(r.url()));
  page.on('framenavigated', (f) => report.urls.push(f.url()));
  page.on('websocket', (ws) => report.urls.push(ws.url()));
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  return page;
}

async function step(name, fn) {
  const t0 = Date.now();
  try {
    const v = await fn();
    report.steps.push({ name, ms: Date.now() - t0 });
    return v;
  } catch (e) {
    throw new Error(`step "${name}": ${e.message}`);
  }
}

const tid = (id) => `[data-testid="${id}"]`;
const shot = (page, name) => page.screenshot({ path: join(shots, `${name}.png`) });
const tileOf = (prefix) => `${tid('participant-tile')}[data-identity^="${prefix}-"]`;

async function joinAs(page, url, name, { camera = true, mic = true } = {}) {
  await page.goto(url);
  await page.locator(tid('name-input')).fill(name);
  // Wait until the preview has settled (camera on or its problem shown) before choosing.
  await page.waitForFunction(() => {
    const v = document.querySelector('[data-testid="prejoin-preview"]');
    return (v && v.videoWidth > 0) || document.querySelector('.notice:not([hidden])');
  }, null, { timeout: T });
  if (!camera) await page.locator(tid('camera-toggle')).click();
  if (!mic) await page.locator(tid('mic-toggle')).click();
}

async function clickJoin(page) {
  await page.locator(tid('join-button')).click();
  await page.locator(`${tid('participant-tile')}.local`).waitFor({ timeout: T });
}

/** videoPlaying waits until page decodes the tile's video of someone whose identity starts with prefix. */
function videoPlaying(page, prefix, testid = 'participant-tile') {
  return page.waitForFunction(
    ([p, t]) => {
      const v = document.querySelector(`[data-testid="${t}"][data-identity^="${p}-"] video`);
      return !!v && !v.hidden && v.videoWidth > 0 && v.currentTime > 0 && !v.paused;
    },
    [prefix, testid],
    { timeout: T, polling: 20 },
  );
}

async function openInvitation(page) {
  await page.locator(tid('copy-invitation')).click();
  const link = await page.locator(tid('invitation-link')).inputValue({ timeout: T });
  await page.locator('.toast button').click();
  if (!/\/m\/[^#]+#invite=h1\./.test(link)) throw new Error(`invitation link ${link}`);
  return link;
}

async function sendChat(page, text) {
  if (!(await page.locator(tid('chat-input')).isVisible())) await page.locator(tid('chat-toggle')).click();
  await page.locator(tid('chat-input')).fill(text);
  await page.locator(tid('chat-send')).click();
}

async function noPageScroll(page) {
  return page.evaluate(() => {
    const d = document.documentElement;
    return { scrollH: d.scrollHeight, scrollW: d.scrollWidth, h: innerHeight, w: innerWidth };
  });
}


/** hostMeeting creates a meeting on the home page and joins it as its host. */
async function hostMeeting(page, name, opts = {}) {
  await page.goto(base + '/');
  await page.locator(tid('create-meeting')).click();
  await page.waitForURL(/\/m\/[a-z]{3}-[a-z]{4}-[a-z]{3}$/, { timeout: T });
  await joinAs(page, page.url(), name, opts);
  await clickJoin(page);
  return decodeURIComponent(new URL(page.url()).pathname.slice(3));
}

async function openHostPanel(page) {
  if (!(await page.locator(tid('host-panel')).isVisible())) await page.locator(tid('host-panel-toggle')).click();
  await page.locator(tid('host-panel')).waitFor({ timeout: T });
}

/** setting ticks or unticks a host-panel checkbox and waits for the node's settings to agree. */
async function setting(page, id, on, field) {
  await openHostPanel(page);
  const box = page.locator(tid(id));
  if ((await box.isChecked()) !== on) await box.click();
  await settingIs(page, field, on);
}

/** settingIs waits until the meeting shows the node's setting (data-<field> on the meeting). */
function settingIs(page, field, value) {
  return page.locator(`section.meeting[data-${field}="${value}"]`).waitFor({ timeout: T });
}

/** micShown waits until page shows the microphone of prefix's tile muted or not (an unmuted
 *  microphone's mark is empty, so it is attached but never visible). */
function micShown(page, prefix, muted) {
  return page.locator(`${tileOf(prefix)} .mic-state[data-muted="${muted}"]`).waitFor({ state: 'attached', timeout: T });
}

async function menuAction(page, prefix, action) {
  if (!(await page.locator(tid('participant-list')).isVisible())) await page.locator(tid('participants-toggle')).click();
  const menu = page.locator(`${tid('participant-menu')}[data-identity^="${prefix}-"]`);
  await menu.locator(tid('participant-menu-button')).click();
  await menu.locator(tid(action)).click();
}

async function errorText(page) {
  const msg = page.locator(`${tid('error-message')}:visible`);
  await msg.waitFor({ timeout: T });
  return msg.textContent();
}

async function inviteFor(page, room, role) {
  return page.evaluate(async ([room, role]) => {
    const res = await fetch('/api/invites', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ room, role }) });
    const v = await res.json();
    return `${location.origin}/m/${encodeURIComponent(room)}#invite=${v.invite}`;
  }, [room, role]);
}

const noticeOf = (page) => page.locator(`${tid('meeting-notice')}:visible`);
// noticeCoded is the notice about one thing, not whichever an earlier event left showing.
const noticeCoded = (page, code) => page.locator(`${tid('meeting-notice')}[data-code="${code}"]:visible`);

const scenarios = {

  // End-to-end encryption: two people with the same passphrase see each other; a third with a
  // wrong one is told on their tiles and decodes no picture; one without any is told to rejoin.
  async e2ee() {
    const b = await launch();
    report.cspErrors = [];
    const watch = (page) => page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) report.cspErrors.push(m.text());
    });
    const encrypted = async (page, url, name, passphrase, opts) => {
      await joinAs(page, url, name, opts);
      await page.locator(tid('e2ee-toggle')).check();
      await page.locator(tid('e2ee-passphrase')).fill(passphrase);
    };
    const a = await person(b);
    watch(a);
    await step('host starts an encrypted meeting', async () => {
      await a.goto(base + '/');
      await a.locator(tid('create-meeting')).click();
      await a.waitForURL(/\/m\/[a-z]{3}-[a-z]{4}-[a-z]{3}$/, { timeout: T });
      await encrypted(a, a.url(), 'Hà Minh Châu', spec.passphrase);
      await shot(a, 'desktop-prejoin-e2ee');
      await clickJoin(a);
      await a.locator(`${tid('e2ee-status')}:visible`).waitFor({ timeout: T });
      report.statusText = await a.locator(tid('e2ee-status')).textContent();
    });
    const link = await step('host copies an invitation', async () => {
      const l = await openInvitation(a);
      report.inviteNote = await a.locator(tid('invite-e2ee-note')).textContent({ timeout: T });
      return l;
    });
    const g = await person(b, PHONE);
    watch(g);
    await step('a guest with the same passphrase: both see each other', async () => {
      await encrypted(g, link, 'Đoàn Văn Phúc', spec.passphrase);
      await shot(g, 'phone-prejoin-e2ee');
      await clickJoin(g);
      await videoPlaying(g, 'ha-minh-chau');
      await videoPlaying(a, 'doan-van-phuc');
      await g.locator(`${tid('e2ee-status')}:visible`).waitFor({ timeout: T });
      report.sameKeyNotices = await a.locator(`${tid('tile-e2ee')}:visible`).count() + await g.locator(`${tid('tile-e2ee')}:visible`).count();
      await shot(a, 'desktop-e2ee');
      await shot(g, 'phone-e2ee');
    });
    const w = await person(b);
    watch(w);
    await step('a guest with a wrong passphrase is told on both tiles', async () => {
      await encrypted(w, link, 'Kiều Thị Yến', spec.wrongPassphrase);
      await clickJoin(w);
      for (const who of ['ha-minh-chau', 'doan-van-phuc']) {
        await w.locator(`${tileOf(who)}[data-e2ee="fail"] ${tid('tile-e2ee')}:visible`).waitFor({ timeout: T });
      }
      report.wrongKeyMessage = await w.locator(`${tileOf('ha-minh-chau')} ${tid('tile-e2ee')}`).textContent();
      // The others cannot read the wrong key's frames either, which also shows they flowed.
      await a.locator(`${tileOf('kieu-thi-yen')}[data-e2ee="fail"]`).waitFor({ timeout: T });
      await shot(w, 'desktop-e2ee-wrong');
    });
    report.wrongKeyFrames = await step('the wrong passphrase decodes no picture', () => w.evaluate(() =>
      ['ha-minh-chau', 'doan-van-phuc'].map((who) => {
        const v = document.querySelector(`[data-testid="participant-tile"][data-identity^="${who}-"] video`);
        return v ? v.videoWidth + v.getVideoPlaybackQuality().totalVideoFrames : -1;
      }).reduce((x, y) => x + y, 0)));
    await step('the same passphrase still plays beside it', async () => {
      await videoPlaying(g, 'ha-minh-chau');
      if (await a.locator(`${tileOf('doan-van-phuc')} ${tid('tile-e2ee')}:visible`).count()) throw new Error('the right passphrase is flagged');
    });
    const n = await person(b);
    watch(n);
    await step('a guest without encryption is told to rejoin with the passphrase', async () => {
      await joinAs(n, link, 'Mạc Văn Khoa', { camera: false, mic: false });
      await clickJoin(n);
      await n.locator(`${tileOf('ha-minh-chau')}[data-e2ee="needKey"] ${tid('tile-e2ee')}:visible`).waitFor({ timeout: T });
      report.noKeyMessage = await n.locator(`${tileOf('ha-minh-chau')} ${tid('tile-e2ee')}`).textContent();
      if (await n.locator(`${tid('e2ee-status')}:visible`).count()) throw new Error('an unencrypted guest shows the encrypted status');
    });
  },

  // Switching camera, microphone and speaker mid-call (two fake cameras): the other person keeps
  // seeing video, and the lists show what is in use; the panel on a phone too.
  async devices() {
    const b = await launch(['--use-fake-device-for-media-stream=device-count=2', ...MEDIA.slice(1)]);
    const a = await person(b);
    await step('host starts a meeting with camera and microphone', () => hostMeeting(a, 'Ngô Thanh Vân'));
    const link = await step('host copies an invitation', () => openInvitation(a));
    const p = await person(b, PHONE);
    await step('a phone participant joins and sees the host', async () => {
      await joinAs(p, link, 'Lâm Quốc Bảo');
      await clickJoin(p);
      await videoPlaying(p, 'ngo-thanh-van');
      await videoPlaying(a, 'lam-quoc-bao');
    });
    const localLabel = (page) => page.evaluate(() => document.querySelector('.tile.local video')?.srcObject?.getVideoTracks()[0]?.label ?? '');
    const selected = (page, id) => page.locator(`${tid(id)} option:checked`).textContent({ timeout: T });
    await step('the panel lists the devices with the ones in use selected', async () => {
      await a.locator(tid('device-settings')).click();
      await a.locator(`${tid('device-camera')} option`).nth(1).waitFor({ state: 'attached', timeout: T });
      report.camerasListed = await a.locator(`${tid('device-camera')} option`).count();
      report.cameraBefore = await selected(a, 'device-camera');
      report.trackBefore = await localLabel(a);
      report.micBefore = await selected(a, 'device-mic');
      await shot(a, 'desktop-devices');
    });
    await step('switching the camera keeps video going to the other', async () => {
      const other = await a.locator(`${tid('device-camera')} option:not(:checked)`).first().getAttribute('value');
      await a.locator(tid('device-camera')).selectOption(other);
      await a.waitForFunction((want) => {
        const sel = document.querySelector('[data-testid="device-camera"]');
        const v = document.querySelector('.tile.local video');
        return sel.value === want && v?.srcObject?.getVideoTracks()[0]?.readyState === 'live' && v.videoWidth > 0;
      }, other, { timeout: T });
      report.cameraAfter = await selected(a, 'device-camera');
      report.trackAfter = await localLabel(a);
      // The phone still decodes new frames of the host's camera after the switch.
      const at = await p.evaluate(() => document.querySelector('[data-testid="participant-tile"][data-identity^="ngo-thanh-van-"] video').currentTime);
      await p.waitForFunction((t0) => {
        const v = document.querySelector('[data-testid="participant-tile"][data-identity^="ngo-thanh-van-"] video');
        return v && !v.hidden && v.videoWidth > 0 && v.currentTime > t0 + 1;
      }, at, { timeout: T });
      report.videoAfterSwitch = true;
    });
    await step('switching the microphone', async () => {
      const other = await a.locator(`${tid('device-mic')} option:not(:checked)`).last().getAttribute('value');
      await a.locator(tid('device-mic')).selectOption(other);
      await a.waitForFunction((want) => document.querySelector('[data-testid="device-mic"]').value === want, other, { timeout: T });
      report.micAfter = await selected(a, 'device-mic');
      await micShown(p, 'ngo-thanh-van', false);
    });
    await step('switching the speaker sets where the others play', async () => {
      const sel = a.locator(tid('device-speaker'));
      const other = await sel.locator('option:not(:checked)').last().getAttribute('value');
      await sel.selectOption(other);
      await a.waitForFunction((want) => {
        const els = [...document.querySelectorAll('audio')];
        return els.length > 0 && els.every((e) => e.sinkId === want);
      }, other, { timeout: T });
      report.speakerAfter = await selected(a, 'device-speaker');
    });
    await step('the panel on a phone', async () => {
      await p.locator(tid('device-settings')).click();
      await p.locator(`${tid('device-panel')}`).waitFor({ timeout: T });
      report.phoneCamera = await selected(p, 'device-camera');
      report.phoneTrack = await localLabel(p);
      report.phoneScroll = await noPageScroll(p);
      await shot(p, 'phone-devices');
      await p.locator(`${tid('device-panel')} header button`).click();
      await p.locator(tid('device-panel')).waitFor({ state: 'detached', timeout: T });
    });
  },

  // A participant removed with "do not let them rejoin" is told why, and the same invitation
  // does not bring them back.
  // The chair records the meeting from the host panel: everyone sees the recording badge and is
  // told; stopping takes the badge away.
  async recording() {
    const b = await launch();
    const a = await person(b);
    await step('host starts a meeting', () => hostMeeting(a, 'Đỗ Quang Huy', { camera: true, mic: true }));
    const link = await step('host copies an invitation', () => openInvitation(a));
    const p = await person(b, PHONE);
    await step('participant joins on a phone', async () => {
      await joinAs(p, link, 'Bùi Thị Mai', { camera: false, mic: true });
      await clickJoin(p);
    });
    await step('host starts recording; everyone sees it', async () => {
      await openHostPanel(a);
      await a.locator(tid('record-meeting')).check();
      for (const page of [a, p]) await page.locator(tid('recording-indicator')).waitFor({ state: 'visible', timeout: T });
      report.recordingBadge = await p.locator(tid('recording-indicator')).textContent();
      report.recordingNotice = await noticeOf(p).textContent({ timeout: T });
      await shot(a, 'desktop-recording');
      await shot(p, 'phone-recording');
    });
    await step('a late joiner is told at once', async () => {
      const l = await person(b);
      await joinAs(l, link, 'Trần Văn Nam', { camera: false, mic: false });
      await clickJoin(l);
      await l.locator(tid('recording-indicator')).waitFor({ state: 'visible', timeout: T });
      report.lateNotice = await noticeOf(l).textContent({ timeout: T });
    });
    await step('host stops recording; the badge goes', async () => {
      await a.locator(tid('record-meeting')).uncheck();
      for (const page of [a, p]) await page.locator(tid('recording-indicator')).waitFor({ state: 'hidden', timeout: T });
      report.stoppedNotice = await noticeOf(p).textContent({ timeout: T });
    });
    await step('the host panel lists the recording, composed, and downloads it', async () => {
      const rec = a.locator(`${tid('recording')}[data-status="complete"]`);
      // Composing takes a while on a busy machine: the panel asks again every few seconds.
      await rec.waitFor({ timeout: 90000 });
      report.recordingsListed = await a.locator(tid('recording')).count();
      report.recordingStatus = await rec.locator(tid('recording-status')).textContent();
      const [dl] = await Promise.all([a.waitForEvent('download', { timeout: T }), rec.locator(tid('recording-download')).first().click()]);
      report.downloadName = dl.suggestedFilename();
      const file = await dl.path();
      report.downloadSize = statSync(file).size;
      const head = Buffer.alloc(8);
      const fd = openSync(file, 'r');
      readSync(fd, head, 0, 8, 0);
      closeSync(fd);
      report.downloadBox = head.subarray(4, 8).toString('latin1'); // an MP4 begins with its ftyp box
      await a.locator(tid('recordings')).scrollIntoViewIfNeeded();
      await shot(a, 'desktop-recordings');
      await a.setViewportSize(PHONE);
      await a.locator(tid('recordings')).scrollIntoViewIfNeeded();
      await shot(a, 'phone-recordings');
      await a.setViewportSize(DESKTOP);
    });
    await step('the host deletes the recording', async () => {
      await a.locator(tid('recording-delete')).first().click();
      await a.locator(`${tid('recording-delete-confirm')} ${tid('confirm-ok')}`).click();
      await a.locator(tid('recording')).waitFor({ state: 'detached', timeout: T });
      report.recordingsEmpty = await a.locator(`${tid('recordings-note')}:visible`).textContent({ timeout: T });
    });
  },

  async barred() {
    const b = await launch();
    const a = await person(b);
    await step('host starts a meeting', () => hostMeeting(a, 'Đinh Công Sơn', { camera: false, mic: false }));
    const link = await step('host copies an invitation', () => openInvitation(a));
    const r = await person(b);
    await step('a participant joins', async () => {
      await joinAs(r, link, 'Trịnh Kim Chi', { camera: false, mic: false });
      await clickJoin(r);
      await a.locator(tileOf('trinh-kim-chi')).waitFor({ timeout: T });
    });
    await step('removed with "do not let them rejoin"', async () => {
      await menuAction(a, 'trinh-kim-chi', 'remove-participant');
      await a.locator(tid('remove-bar')).check();
      await shot(a, 'desktop-remove-confirm');
      await a.locator(`${tid('remove-confirm')} ${tid('confirm-ok')}`).click();
      report.kicked = await r.locator(tid('end-reason')).textContent({ timeout: T });
      await a.locator(tileOf('trinh-kim-chi')).waitFor({ state: 'detached', timeout: T });
    });
    await step('the same invitation is refused', async () => {
      await r.locator(tid('rejoin-button')).click();
      await r.locator(tid('join-button')).click();
      const refused = r.locator(`${tid('error-message')}:visible`);
      const joined = r.locator(`${tid('participant-tile')}.local`);
      await refused.or(joined).first().waitFor({ timeout: T });
      report.rejoinRefused = (await refused.isVisible()) ? await refused.textContent() : 'joined again';
    });
  },

  // The lobby, the password and the lock, as a host and guests see them.
  async lobby() {
    const b = await launch();
    const a = await person(b);
    const room = await step('host starts a meeting', () => hostMeeting(a, 'Nguyễn Văn An', { camera: false, mic: false }));
    const link = await step('host copies an invitation', () => openInvitation(a));
    await step('host turns the lobby on', () => setting(a, 'lobby-toggle', true, 'lobby'));
    const g = await person(b);
    await step('guest waits in the lobby', async () => {
      await joinAs(g, link, 'Trần Thị Bình', { camera: false, mic: false });
      await g.locator(tid('join-button')).click();
      await g.locator(tid('lobby-waiting')).waitFor({ timeout: T });
      report.waitingSawTiles = await g.locator(tid('participant-tile')).count();
    });
    await step('host is told, sees and hears the knock', async () => {
      await a.locator(`${tid('lobby-knock')}:visible`).filter({ hasText: 'Trần Thị Bình' }).waitFor({ timeout: T });
      await a.locator(`${tid('lobby-entry')}`).filter({ hasText: 'Trần Thị Bình' }).waitFor({ timeout: T });
      report.knocks = await a.evaluate(() => performance.getEntriesByName('hop:knock').length);
      await shot(a, 'desktop-lobby-queue');
      await shot(g, 'desktop-lobby-waiting');
    });
    await step('host denies: the guest is told', async () => {
      await a.locator(tid('lobby-deny')).click();
      report.denied = await errorText(g);
      await a.locator(tid('lobby-entry')).waitFor({ state: 'detached', timeout: T });
    });
    await step('guest knocks again and is admitted', async () => {
      await g.locator(tid('join-button')).click();
      await g.locator(tid('lobby-waiting')).waitFor({ timeout: T });
      if (await a.locator(tileOf('tran-thi-binh')).count()) throw new Error('a waiting guest has a tile');
      await a.locator(tid('lobby-admit')).click();
      await g.locator(`${tid('participant-tile')}.local`).waitFor({ timeout: T });
      await g.locator(tileOf('nguyen-van-an')).waitFor({ timeout: T });
      await a.locator(tileOf('tran-thi-binh')).waitFor({ timeout: T });
      report.hostBadge = await g.locator(`${tileOf('nguyen-van-an')} ${tid('tile-role')}`).textContent();
    });
    await step('host makes the guest a co-host', async () => {
      await menuAction(a, 'tran-thi-binh', 'set-role-cohost');
      report.cohostNotice = await noticeCoded(g, 'role-cohost').textContent({ timeout: T });
      await openHostPanel(g);
      if (await g.locator(tid('end-meeting')).isVisible()) throw new Error('a co-host may end the meeting');
      await a.locator(`${tileOf('tran-thi-binh')} ${tid('tile-role')}[data-role="cohost"]`).waitFor({ timeout: T });
      await a.locator(tid('participants-toggle')).click();
    });
    const p = await person(b, PHONE);
    await step('phone guest waits; two waiting are admitted at once', async () => {
      await joinAs(p, link, 'Phạm Thu Dung', { camera: false, mic: false });
      await p.locator(tid('join-button')).click();
      await p.locator(tid('lobby-waiting')).waitFor({ timeout: T });
      await shot(p, 'phone-lobby-waiting');
      const q = await person(b);
      await joinAs(q, link, 'Lê Văn Cường', { camera: false, mic: false });
      await q.locator(tid('join-button')).click();
      await q.locator(tid('lobby-waiting')).waitFor({ timeout: T });
      await openHostPanel(a);
      await a.locator(tid('lobby-entry')).nth(1).waitFor({ timeout: T });
      await g.locator(tid('lobby-entry')).nth(1).waitFor({ timeout: T });
      await shot(a, 'desktop-host-panel');
      await a.setViewportSize(PHONE);
      await shot(a, 'phone-host-panel');
      await a.setViewportSize(DESKTOP);
      await a.locator(tid('lobby-admit-all')).click();
      await p.locator(`${tid('participant-tile')}.local`).waitFor({ timeout: T });
      await q.locator(`${tid('participant-tile')}.local`).waitFor({ timeout: T });
      await q.close();
    });
    await step('a password: wrong refused, right admits', async () => {
      await setting(a, 'lobby-toggle', false, 'lobby');
      await a.locator(tid('meeting-password')).fill('hop-2026');
      await a.locator(tid('meeting-password-set')).click();
      await settingIs(a, 'has-password', true);
      const h = await person(b);
      await joinAs(h, link, 'Hoàng Minh Hải', { camera: false, mic: false });
      await h.locator(tid('join-button')).click();
      report.passwordAsked = await errorText(h);
      await h.locator(tid('password-input')).fill('sai-mat-khau');
      await h.locator(tid('join-button')).click();
      await h.locator(tid('error-message')).filter({ hasText: 'không đúng' }).waitFor({ timeout: T });
      report.passwordWrong = await errorText(h);
      await shot(h, 'desktop-password');
      await h.locator(tid('password-input')).fill('hop-2026');
      await h.locator(tid('join-button')).click();
      await h.locator(`${tid('participant-tile')}.local`).waitFor({ timeout: T });
    });
    await step('locking refuses a new join', async () => {
      await a.locator(tid('meeting-password-clear')).click();
      await settingIs(a, 'has-password', false);
      await setting(a, 'lock-meeting', true, 'locked');
      const l = await person(b);
      await joinAs(l, link, 'Vũ Thị Thu', { camera: false, mic: false });
      await l.locator(tid('join-button')).click();
      report.locked = await errorText(l);
    });
    await step('a guest may leave the lobby and is back on the form', async () => {
      await setting(a, 'lock-meeting', false, 'locked');
      await setting(a, 'lobby-toggle', true, 'lobby');
      const w = await person(b);
      await joinAs(w, link, 'Đặng Thị Hương', { camera: false, mic: false });
      await w.locator(tid('join-button')).click();
      // This is the scenario's eleventh join from one address: the node's join limit (ten at
      // once, then one every six seconds) may ask to wait, as a person would.
      const waiting = w.locator(tid('lobby-waiting'));
      const limited = w.locator(`${tid('error-message')}:visible`).filter({ hasText: 'Bạn thử quá nhiều lần' });
      await waiting.or(limited).first().waitFor({ timeout: T });
      if (await limited.count()) {
        const seconds = Number((await limited.textContent()).match(/\d+/)?.[0] ?? 6);
        await w.waitForTimeout(seconds * 1000);
        await w.locator(tid('join-button')).click();
      }
      await waiting.waitFor({ timeout: T });
      await w.locator(tid('lobby-leave')).click();
      await w.locator(`${tid('join-button')}:enabled`).waitFor({ timeout: T });
      if (await w.locator(tid('lobby-waiting')).isVisible()) throw new Error('the waiting screen stayed');
      if (await w.locator(`${tid('error-message')}:visible`).count()) throw new Error('leaving the lobby shows an error');
    });
    await step('the host panel follows a language switch made while it was closed', async () => {
      await a.locator(tid('participants-toggle')).click();
      await a.locator(tid('language-toggle')).click();
      await openHostPanel(a);
      report.hostPanelEn = await a.locator('#host-title').textContent();
      await a.locator(tid('language-toggle')).click();
    });
    report.room = room;
  },

  // Mute all with unmuting blocked, a viewer brought on stage, the chair handed on when the
  // last host leaves, and the meeting ended for everyone.
  async moderation() {
    const b = await launch();
    const a = await person(b);
    const room = await step('host starts a meeting', () => hostMeeting(a, 'Đỗ Quang Huy', { camera: false, mic: true }));
    const link = await step('host copies an invitation', () => openInvitation(a));
    const p = await person(b);
    await step('participant joins with the microphone on', async () => {
      await joinAs(p, link, 'Bùi Thị Mai', { camera: false, mic: true });
      await clickJoin(p);
      await micShown(a, 'bui-thi-mai', false);
    });
    const v = await person(b);
    await step('viewer joins without media controls', async () => {
      const vlink = await inviteFor(a, room, 'viewer');
      await joinAs(v, vlink, 'Lý Thanh Tâm', { camera: false, mic: false });
      await clickJoin(v);
      await a.locator(tileOf('ly-thanh-tam')).waitFor({ timeout: T });
      if (await v.locator(tid('mic-toggle')).isVisible()) throw new Error('a viewer off stage sees the microphone button');
      report.viewerBadge = await a.locator(`${tileOf('ly-thanh-tam')} ${tid('tile-role')}`).textContent();
    });
    await step('mute all, may not unmute', async () => {
      await openHostPanel(a);
      await a.locator(tid('mute-all-block')).check();
      await a.locator(tid('mute-all')).click();
      await micShown(a, 'bui-thi-mai', true);
      await micShown(p, 'do-quang-huy', false);
      if ((await a.locator(tid('mic-toggle')).getAttribute('aria-pressed')) !== 'false') throw new Error('"mute all" muted the host who asked');
      report.mutedNotice = await noticeCoded(p, 'muted-mic').textContent({ timeout: T });
      await settingIs(p, 'unmute', 'blocked');
      await p.locator(tid('mic-toggle')).click();
      await p.locator(`${tid('meeting-notice')}[data-code="unmuteBlockedWhy"]`).waitFor({ timeout: T });
      report.blockedNotice = await noticeOf(p).textContent();
      if ((await p.locator(tid('mic-toggle')).getAttribute('aria-pressed')) !== 'true') throw new Error('participant unmuted while blocked');
      if ((await a.locator(`${tileOf('bui-thi-mai')} .mic-state`).getAttribute('data-muted')) !== 'true') throw new Error('host sees the participant unmuted');
      await shot(p, 'desktop-muted-blocked');
    });
    await step('allow unmuting: the participant unmutes', async () => {
      await a.locator(tid('allow-unmute')).click();
      await p.locator(`${tid('meeting-notice')}[data-code="unmute-allowed"]`).waitFor({ timeout: T });
      await p.locator(tid('mic-toggle')).click();
      await micShown(a, 'bui-thi-mai', false);
    });
    await step('mute one, then ask them to unmute: they choose to', async () => {
      await menuAction(a, 'bui-thi-mai', 'mute-mic');
      await micShown(a, 'bui-thi-mai', true);
      await p.locator(`${tid('meeting-notice')}[data-code="muted-mic"]`).waitFor({ timeout: T });
      await menuAction(a, 'bui-thi-mai', 'ask-unmute');
      await p.locator(`${tid('meeting-notice')}[data-code="ask-unmute"]`).waitFor({ timeout: T });
      report.askNotice = await p.locator(`${tid('meeting-notice')} span`).textContent();
      await p.locator(tid('notice-unmute')).click();
      await micShown(a, 'bui-thi-mai', false);
    });
    await step('stop a screen share', async () => {
      await p.locator(tid('screenshare-toggle')).click();
      await a.locator(`${tid('screenshare-tile')}[data-identity^="bui-thi-mai-"]`).waitFor({ timeout: T });
      await menuAction(a, 'bui-thi-mai', 'stop-screenshare');
      await a.locator(tid('screenshare-tile')).waitFor({ state: 'detached', timeout: T });
      await p.locator(`${tid('meeting-notice')}[data-code="screenshare-stopped"]`).waitFor({ timeout: T });
      await p.locator(`${tid('screenshare-toggle')}[aria-pressed="false"]`).waitFor({ timeout: T });
    });
    await step('viewer brought on stage publishes', async () => {
      await menuAction(a, 'ly-thanh-tam', 'bring-to-stage');
      await v.locator(tid('mic-toggle')).waitFor({ state: 'visible', timeout: T });
      // Its own notice: the viewer also saw "unmuting allowed" a moment ago.
      report.stageNotice = await noticeCoded(v, 'on-stage').textContent({ timeout: T });
      await v.locator(tid('mic-toggle')).click();
      await micShown(a, 'ly-thanh-tam', false);
      await micShown(v, 'do-quang-huy', false);
      const menu = a.locator(`${tid('participant-menu')}[data-identity^="bui-thi-mai-"]`);
      await menu.locator(tid('participant-menu-button')).click();
      await shot(a, 'desktop-participant-menu');
      await a.setViewportSize(PHONE);
      await shot(a, 'phone-participant-menu');
      await a.setViewportSize(DESKTOP);
      await menu.locator(tid('participant-menu-button')).click();
    });
    await step('lower all hands', async () => {
      await p.locator(tid('raise-hand')).click();
      await a.locator(`${tileOf('bui-thi-mai')} ${tid('hand-raised')}:not([hidden])`).waitFor({ timeout: T });
      await openHostPanel(a);
      await a.locator(tid('lower-hands')).click();
      await a.locator(`${tileOf('bui-thi-mai')} ${tid('hand-raised')}`).waitFor({ state: 'hidden', timeout: T });
      report.handNotice = await p.locator(`${tid('meeting-notice')}[data-code="hand-lowered"]`).textContent({ timeout: T });
      if ((await p.locator(tid('raise-hand')).getAttribute('aria-pressed')) !== 'false') throw new Error('the hand button still shows the hand up');
    });
    await step('chat off and screen sharing for hosts only apply to participants', async () => {
      await setting(a, 'chat-setting', false, 'chat');
      await p.locator(tid('chat-toggle')).click();
      await p.locator(`${tid('chat-disabled')}:visible`).waitFor({ timeout: T });
      if (!(await p.locator(tid('chat-input')).isDisabled())) throw new Error('chat input open with chat off');
      await p.locator(tid('chat-toggle')).click();
      await a.locator(tid('screenshare-setting')).selectOption('hosts');
      await settingIs(p, 'screen-share', 'hosts');
      if (!(await p.locator(tid('screenshare-toggle')).isDisabled())) throw new Error('participant may share with "hosts only"');
      if (await a.locator(tid('screenshare-toggle')).isDisabled()) throw new Error('host may not share with "hosts only"');
      report.shareLabel = await p.locator(tid('screenshare-toggle')).getAttribute('aria-label');
      await setting(a, 'chat-setting', true, 'chat');
      await a.locator(tid('screenshare-setting')).selectOption('all');
      await settingIs(p, 'screen-share', 'all');
      await p.locator(`${tid('screenshare-toggle')}:enabled`).waitFor({ timeout: T });
    });
    await step('spotlight shows one person large for everyone', async () => {
      await menuAction(a, 'bui-thi-mai', 'spotlight');
      await v.locator(`${tid('main-stage')} ${tileOf('bui-thi-mai')}`).waitFor({ timeout: T });
      await p.locator(`${tid('main-stage')} ${tileOf('bui-thi-mai')}`).waitFor({ timeout: T });
      await menuAction(a, 'bui-thi-mai', 'spotlight');
      await v.locator(`${tid('main-stage')} ${tid('participant-tile')}`).waitFor({ state: 'detached', timeout: T });
    });
    await step('rename a participant', async () => {
      await menuAction(a, 'ly-thanh-tam', 'rename');
      await a.locator(tid('rename-input')).fill('Lý Thanh Tâm (Sở Y tế)');
      await a.locator(`${tid('rename-dialog')} ${tid('confirm-ok')}`).click();
      await p.locator(`${tileOf('ly-thanh-tam')} .name`).filter({ hasText: 'Lý Thanh Tâm (Sở Y tế)' }).waitFor({ timeout: T });
      report.renamedNotice = await noticeCoded(v, 'renamed').textContent({ timeout: T });
    });
    await step('the last host leaves: someone else is host', async () => {
      await a.locator(tid('leave-button')).click();
      await a.locator(tid('end-reason')).waitFor({ timeout: T });
      await p.locator(tid('host-panel-toggle')).waitFor({ state: 'visible', timeout: T });
      report.newHost = await v.locator(`${tileOf('bui-thi-mai')} ${tid('tile-role')}`).textContent({ timeout: T });
    });
    await step('ending the meeting disconnects everyone with the reason', async () => {
      await openHostPanel(p);
      await p.locator(tid('end-meeting')).click();
      await p.locator(`${tid('end-meeting-confirm')} ${tid('confirm-ok')}`).click();
      report.endedHost = await p.locator(tid('end-reason')).textContent({ timeout: T });
      report.ended = await v.locator(tid('end-reason')).textContent({ timeout: T });
    });
    report.room = room;
  },
  // Create a meeting, invite, talk, chat, share, raise hands, mute, leave: four people.
  async meeting() {
    const b = await launch();
    const a = await person(b);
    await step('home', async () => {
      await a.goto(base + '/');
      await a.locator(tid('create-meeting')).waitFor();
      await shot(a, 'desktop-home');
    });
    await step('create meeting', async () => {
      await a.locator(tid('create-meeting')).click();
      await a.waitForURL(/\/m\/[a-z]{3}-[a-z]{4}-[a-z]{3}$/, { timeout: T });
      await a.locator(tid('name-input')).fill('Nguyễn Văn An');
      await a.waitForFunction(() => document.querySelector('[data-testid="prejoin-preview"]')?.videoWidth > 0, null, { timeout: T });
      await shot(a, 'desktop-prejoin');
      await clickJoin(a);
    });
    const link = await step('copy invitation', () => openInvitation(a));
    report.room = decodeURIComponent(new URL(link).pathname.slice(3));
    const bb = await person(b);
    await step('second person pre-join', () => joinAs(bb, link, 'Trần Thị Bình'));
    report.joinToVideoMs = await step('join and see video', async () => {
      const t0 = Date.now();
      await bb.locator(tid('join-button')).click();
      await videoPlaying(bb, 'nguyen-van-an');
      const total = Date.now() - t0;
      report.joinMarks = await bb.evaluate(() => {
        const at = (n) => performance.getEntriesByName(n)[0]?.startTime;
        const j = at('hop:join');
        return { token: at('hop:token') - j, connected: at('hop:connected') - j, videoSubscribed: at('hop:video-subscribed') - j, now: performance.now() - j };
      });
      return total;
    });
    await step('first sees second', () => videoPlaying(a, 'tran-thi-binh'));
    await step('chat a to b', async () => {
      await sendChat(a, 'Chào chị Bình, tài liệu ở https://example.vn/tai-lieu');
      await bb.locator(tid('chat-unread')).filter({ hasText: '1' }).waitFor({ timeout: T });
      await bb.locator(tid('chat-toggle')).click();
      await bb.locator(tid('chat-message')).filter({ hasText: 'Chào chị Bình' }).waitFor({ timeout: T });
      const href = await bb.locator(`${tid('chat-message')} a`).first().getAttribute('href');
      if (href !== 'https://example.vn/tai-lieu') throw new Error(`link ${href}`);
      if (await bb.locator(tid('chat-unread')).isVisible()) throw new Error('unread badge stayed after opening the chat');
    });
    await step('chat b to a', async () => {
      await sendChat(bb, 'Em nhận được rồi ạ');
      await a.locator(tid('chat-message')).filter({ hasText: 'Em nhận được rồi ạ' }).waitFor({ timeout: T });
      await shot(a, 'desktop-chat');
    });
    const c = await person(b);
    await step('third person joins later', async () => {
      await joinAs(c, link, 'Lê Văn Cường', { camera: true });
      await clickJoin(c);
      await c.locator(tid('chat-toggle')).click();
    });
    report.historySeen = await step('third person sees earlier chat', async () => {
      try {
        await c.locator(tid('chat-message')).filter({ hasText: 'Em nhận được rồi ạ' }).waitFor({ timeout: 5000 });
      } catch {
        return 0;
      }
      return c.locator(tid('chat-message')).count();
    });
    const d = await person(b, PHONE);
    await step('phone person joins', async () => {
      await d.goto(base + '/');
      await shot(d, 'phone-home');
      await joinAs(d, link, 'Phạm Thu Dung', { camera: false });
      await shot(d, 'phone-prejoin');
      await clickJoin(d);
      await a.locator(tileOf('pham-thu-dung')).waitFor({ timeout: T });
      await videoPlaying(a, 'le-van-cuong');
      await videoPlaying(d, 'nguyen-van-an');
    });
    await step('grid of four', async () => {
      const n = await a.locator(tid('participant-tile')).count();
      if (n !== 4) throw new Error(`${n} tiles`);
      if (await a.locator(tileOf('pham-thu-dung')).getAttribute('data-video') !== 'off') throw new Error('camera-off tile shows video');
      await shot(a, 'desktop-grid4');
      report.phoneScroll = await noPageScroll(d);
      await shot(d, 'phone-meeting');
    });
    await step('raise hands in order', async () => {
      await bb.locator(tid('raise-hand')).click();
      await a.locator(`${tileOf('tran-thi-binh')} ${tid('hand-raised')}:not([hidden])`).waitFor({ timeout: T });
      await c.locator(tid('raise-hand')).click();
      for (const p of [a, bb]) {
        await p.locator(`${tileOf('le-van-cuong')} ${tid('hand-raised')}[data-order="2"]`).waitFor({ timeout: T });
        const first = await p.locator(`${tileOf('tran-thi-binh')} ${tid('hand-raised')}`).getAttribute('data-order');
        if (first !== '1') throw new Error(`Bình's hand is ${first}`);
      }
      await a.locator(tid('participants-toggle')).click();
      const entries = a.locator(`${tid('participant-list')} [data-testid="participant-entry"]`);
      await entries.nth(3).waitFor({ timeout: T });
      const order = await entries.evaluateAll((es) => es.map((e) => e.dataset.identity.split('-')[0]));
      if (order[0] !== 'tran' || order[1] !== 'le') throw new Error(`list order ${order}`);
      await shot(a, 'desktop-people');
      await d.locator(tid('participants-toggle')).click();
      await shot(d, 'phone-people');
      await d.locator(tid('participants-toggle')).click();
    });
    await step('mute shows for the other', async () => {
      await bb.locator(tid('mic-toggle')).click();
      await micShown(a, 'tran-thi-binh', true);
      await a.locator(`${tid('participant-entry')}[data-identity^="tran-thi-binh-"] .state[data-state="off"]`).first().waitFor({ timeout: T });
      await a.locator(tid('participants-toggle')).click();
    });
    await step('speaker view', async () => {
      await a.locator(tid('layout-toggle')).click();
      await a.locator(`${tid('main-stage')} ${tid('participant-tile')}`).waitFor({ timeout: T });
      await shot(a, 'desktop-speaker');
      await a.locator(tid('layout-toggle')).click();
    });
    await step('screen share is the main tile for the other', async () => {
      await a.locator(tid('screenshare-toggle')).click();
      await bb.locator(`${tid('main-stage')} ${tid('screenshare-tile')}[data-identity^="nguyen-van-an-"]`).waitFor({ timeout: T });
    });
    await step('screen share plays', async () => {
      await videoPlaying(bb, 'nguyen-van-an', 'screenshare-tile');
      await shot(bb, 'desktop-screenshare');
    });
    await step('phone chat overlay', async () => {
      await d.locator(tid('chat-toggle')).click();
      await shot(d, 'phone-chat');
      report.phoneChatScroll = await noPageScroll(d);
      await d.locator(tid('chat-toggle')).click();
    });
    await step('screen share stops for the other', async () => {
      await a.locator(tid('screenshare-toggle')).click();
      await bb.locator(tid('screenshare-tile')).waitFor({ state: 'detached', timeout: T });
    });
    await step('leaving removes the tile', async () => {
      await d.locator(tid('leave-button')).click();
      await d.locator('[data-testid="end-reason"]').waitFor({ timeout: T });
      await a.locator(tileOf('pham-thu-dung')).waitFor({ state: 'detached', timeout: T });
    });
  },

  // An expired invitation shows its Vietnamese message.
  async expired() {
    const b = await launch();
    const p = await person(b);
    await joinAs(p, spec.link, 'Võ Minh Khoa', { camera: false, mic: false });
    await p.locator(tid('join-button')).click();
    const msg = p.locator(`${tid('error-message')}:visible`);
    await msg.waitFor({ timeout: T });
    report.message = await msg.textContent();
  },

  // A meeting already full refuses the next person in words.
  async full() {
    const b = await launch();
    const first = await person(b);
    await joinAs(first, spec.link, 'Ngô Bảo Châu', { camera: false, mic: false });
    await clickJoin(first);
    const second = await person(b);
    await joinAs(second, spec.link, 'Vũ Thị Thu', { camera: false, mic: false });
    await second.locator(tid('join-button')).click();
    const msg = second.locator(`${tid('error-message')}:visible`);
    await msg.waitFor({ timeout: T });
    report.message = await msg.textContent();
  },

  // Removed by an administrator, then the meeting deleted: each person is told why.
  async removed() {
    const b = await launch();
    const a = await person(b);
    await joinAs(a, spec.link, 'Đinh Công Sơn', { camera: false, mic: false });
    await clickJoin(a);
    const k = await person(b);
    await joinAs(k, spec.link, 'Mai Anh Tuấn', { camera: false, mic: false });
    await clickJoin(k);
    const identity = await a.locator(tileOf('mai-anh-tuan')).getAttribute('data-identity', { timeout: T });
    const room = decodeURIComponent(new URL(a.url()).pathname.slice(3));
    const twirp = async (method, body) => {
      const res = await fetch(`${base}/twirp/livekit.RoomService/${method}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${spec.adminToken}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`${method}: ${res.status} ${await res.text()}`);
    };
    await step('remove a participant', async () => {
      await twirp('RemoveParticipant', { room, identity });
      report.kicked = await k.locator('[data-testid="end-reason"]').textContent({ timeout: T });
      await a.locator(tileOf('mai-anh-tuan')).waitFor({ state: 'detached', timeout: T });
    });
    await step('delete the room', async () => {
      await twirp('DeleteRoom', { room });
      report.ended = await a.locator('[data-testid="end-reason"]').textContent({ timeout: T });
    });
  },

  // The node restarts under a meeting: the app says it is reconnecting and comes back by itself.
  async restart() {
    const b = await launch();
    const a = await person(b);
    await joinAs(a, spec.link, 'Phan Thanh Hải');
    await clickJoin(a);
    const c = await person(b);
    await joinAs(c, spec.link, 'Trịnh Kim Chi');
    await clickJoin(c);
    await videoPlaying(a, 'trinh-kim-chi');
    await step('node restarts', async () => {
      await fetch(spec.control + '/restart', { method: 'POST' });
      await a.locator(`${tid('reconnecting-banner')}:visible`).waitFor({ timeout: T });
      await fetch(spec.control + '/start', { method: 'POST' });
    });
    report.rejoinMs = await step('back in the meeting', async () => {
      const t0 = Date.now();
      await a.locator(`${tid('reconnecting-banner')}`).waitFor({ state: 'hidden', timeout: 60000 });
      await c.locator(`${tid('reconnecting-banner')}`).waitFor({ state: 'hidden', timeout: 60000 });
      await a.waitForFunction(() => document.querySelectorAll('[data-testid="participant-tile"]').length === 2, null, { timeout: 60000 });
      await videoPlaying(a, 'trinh-kim-chi');
      await videoPlaying(c, 'phan-thanh-hai');
      return Date.now() - t0;
    });
  },

  // The node asks everyone to join again (a room moving to another node): livekit-client's full
  // reconnect loses the room events of its restart window; each person still gets the other's tile,
  // picture and sound (one live audio element, not two).
  async move() {
    // Two browsers: pages of one Chromium share its fake camera, which now and then stops giving
    // frames to both when they republish at the same moment (both tracks live and unmuted, the
    // senders active, no frame, not even in the self-view).
    const a = await person(await launch());
    await joinAs(a, spec.link, 'Phan Thanh Hải');
    await clickJoin(a);
    const c = await person(await launch());
    await joinAs(c, spec.link, 'Trịnh Kim Chi');
    await clickJoin(c);
    await videoPlaying(a, 'trinh-kim-chi');
    await videoPlaying(c, 'phan-thanh-hai');
    report.rejoinMs = await step('asked to join again, back with picture and sound', async () => {
      const t0 = Date.now();
      const res = await fetch(spec.control + '/move', { method: 'POST' });
      if (!res.ok) throw new Error(`move: ${res.status}`);
      // What a page shows, for a failure to say which wait gave up on what.
      const state = (page) => page.evaluate(() => ({
        tiles: [...document.querySelectorAll('[data-testid="participant-tile"]')].map((e) => e.dataset.identity),
        audio: [...document.querySelectorAll('audio')].map((e) => (e.srcObject?.getAudioTracks() ?? []).map((t) => t.readyState).join(',') || 'none'),
      }));
      const waitOr = async (page, what, fn, arg) => {
        try {
          await page.waitForFunction(fn, arg, { timeout: T });
        } catch (e) {
          throw new Error(`${what}: ${e.message}; page shows ${JSON.stringify(await state(page))}`);
        }
      };
      for (const [page, other] of [[a, 'trinh-kim-chi'], [c, 'phan-thanh-hai']]) {
        await waitOr(page, `${other}'s tile`, (o) => document.querySelectorAll('[data-testid="participant-tile"]').length === 2 && !!document.querySelector(`[data-testid="participant-tile"][data-identity^="${o}-"]`), other);
        try {
          await videoPlaying(page, other);
        } catch (e) {
          const v = await page.evaluate((o) => {
            const el = document.querySelector(`[data-testid="participant-tile"][data-identity^="${o}-"] video`);
            return el ? { hidden: el.hidden, w: el.videoWidth, t: el.currentTime, paused: el.paused, tracks: (el.srcObject?.getVideoTracks() ?? []).map((t) => `${t.readyState}/${t.muted}`) } : null;
          }, other);
          throw new Error(`${other}'s video: ${e.message}; video ${JSON.stringify(v)}; page shows ${JSON.stringify(await state(page))}`);
        }
        await waitOr(page, 'one live audio element', () => {
          const live = [...document.querySelectorAll('audio')].filter((e) => e.srcObject?.getAudioTracks().some((t) => t.readyState === 'live'));
          return live.length === 1;
        });
      }
      return Date.now() - t0;
    });
  },

  // Someone who clicks Join while the microphone is still opening (here it takes 2 s) joins with
  // it on, and is heard.
  async quickjoin() {
    const b = await launch();
    const a = await person(b);
    await a.addInitScript(() => {
      const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
      navigator.mediaDevices.getUserMedia = async (c) => {
        if (c && c.audio) await new Promise((r) => setTimeout(r, 2000));
        return open(c);
      };
    });
    await joinAs(a, spec.link, 'Phan Thanh Hải'); // waits for the camera's preview only
    await clickJoin(a);
    const c = await person(b);
    await joinAs(c, spec.link, 'Trịnh Kim Chi', { mic: false });
    await clickJoin(c);
    report.quickJoinHeard = await step('the quick joiner is heard', async () => {
      await c.waitForFunction(() => [...document.querySelectorAll('audio')].some((e) => e.srcObject?.getAudioTracks().some((t) => t.readyState === 'live')), null, { timeout: T });
      return true;
    });
  },

  // A denied camera is explained in Vietnamese, and joining without it works.
  async denied() {
    const b = await launch(['--use-fake-device-for-media-stream', '--deny-permission-prompts']);
    const p = await person(b);
    await p.goto(spec.link);
    await p.locator(tid('name-input')).fill('Hoàng Lan');
    const msg = p.locator(`${tid('error-message')}:visible`);
    await msg.waitFor({ timeout: T });
    report.message = await msg.textContent();
    await shot(p, 'desktop-prejoin-denied');
    await clickJoin(p);
    report.joinedWithout = true;
  },

  // English by the switch, still English after a reload.
  async language() {
    const b = await launch();
    const p = await person(b);
    await p.goto(base + '/');
    report.before = await p.locator(tid('create-meeting')).textContent();
    await p.locator(tid('language-toggle')).click();
    report.switched = await p.locator(tid('create-meeting')).textContent();
    await p.reload();
    report.after = await p.locator(tid('create-meeting')).textContent();
    report.htmlLang = await p.evaluate(() => document.documentElement.lang);
    await p.goto(base + '/no/such/page');
    report.notFound = await p.locator('[data-testid="not-found"] h1').textContent();
  },

  // Production: two people join from the link `hop invite` printed; nobody types a token.
  async prod() {
    const b = await launch();
    const host = await person(b);
    await step('host joins from the printed link', async () => {
      await joinAs(host, spec.link, 'Đỗ Quang Huy');
      await clickJoin(host);
    });
    const link = await step('host copies an invitation', () => openInvitation(host));
    const guest = await person(b);
    await step('guest joins', async () => {
      await joinAs(guest, link, 'Bùi Thị Mai');
      await guest.locator(tid('join-button')).click();
      await videoPlaying(guest, 'do-quang-huy');
      await videoPlaying(host, 'bui-thi-mai');
    });
    report.guestRole = await guest.evaluate(() => document.querySelector('[data-testid="screenshare-toggle"]').disabled ? 'viewer' : 'publisher');
    report.createdByGuest = await step('guest cannot create meetings', async () => {
      await guest.goto(spec.base + '/');
      await guest.locator(tid('create-meeting')).click();
      return guest.locator(`${tid('error-message')}:visible`).textContent({ timeout: T });
    });
  },
};

const deadline = setTimeout(() => {
  console.error('app.mjs: timed out');
  process.exit(3);
}, spec.timeoutMs || 240000);

let code = 0;
try {
  if (!scenarios[scenario]) throw new Error(`unknown scenario ${scenario}`);
  await scenarios[scenario]();
  report.ok = true;
} catch (e) {
  console.error(e.stack || String(e));
  report.ok = false;
  report.error = String(e.message || e);
  code = 1;
} finally {
  await Promise.all(browsers.map((b) => b.close().catch(() => {})));
  clearTimeout(deadline);
}
process.stdout.write(JSON.stringify(report) + '\n');
process.exit(code);
