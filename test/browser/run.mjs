#!/usr/bin/env node
// Headless-Chromium participants for Hop's Go tests.
//
// Usage: node run.mjs '<json spec>'   or   echo '<json spec>' | node run.mjs
//
// Spec: { "url": "ws://127.0.0.1:PORT",
//         "participants": [{"identity": "a", "token": "..."}, ...],
//         "durationMs": 8000,            at most this long for every video to reach the expected size
//         "forceV0": false,              expect the /rtc (two PeerConnection) path: reports an error if
//                                        the client ended on another one. The page does nothing special:
//                                        the server refuses /rtc/v1 and livekit-client falls back.
//         "singlePeerConnection": true,  false makes the client go straight to /rtc itself
//         "expectWidth": 1280, "expectHeight": 720,   camera capture size (and what each receiver
//                                        should decode; mismatches are reported, not fatal)
//         "connectTimeoutMs": 20000, "logLevel": "warn", "verbose": false }
//
// Per participant, optionally (see browser.go's Participant):
//   "publish": true,                  camera + microphone (false: subscribe only)
//   "adaptiveStream": false, "dynacast": false,   livekit-client's room options
//   "tileWidth": 320, "tileHeight": 180,          CSS size of each remote <video>
//   "dtx", "red": booleans for the published microphone (livekit-client's defaults when unset)
//   "rawAudio": false,                 microphone without echo cancellation, noise suppression, AGC
//   "timelineMs": 0,                  timeline mode (below) when any participant sets it
//   "sampleMs": 200,                  timeline sampling period
//   "startDelayMs": 0,                join this long after the pages are loaded
//   "waitStart": false                join only when "start <identity>" arrives on stdin
//
// Timeline mode: every participant joins on its own (no waiting for the others, no hello
// messages), then samples its stats every sampleMs for timelineMs or until "stop" arrives on
// stdin (or stdin ends, when the spec set "control": true). Each sample and each livekit-client
// event is printed as it is taken, one JSON line each: {"type":"sample","identity":…,"sample":…}
// and {"type":"event","identity":…,"event":{"at":…,"kind":…,"detail":…}}. The report ends the
// output as before.
//
// The spec is the first line on stdin (or all of stdin, or argv[2]); the lines after it are the
// commands "start <identity>", "start" (everyone waiting) and "stop".
//
// Prints one line of JSON on stdout (see browser.go for its shape). Exit status: 0 when every
// participant connected and the run completed, 1 for a bad spec or missing dependencies, 2 when
// Chromium cannot start, 3 when a participant could not connect in time (the JSON is still
// printed), 4 when the whole run overran its time bound.

import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.HOP_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];
const SAMPLE_GAP_MS = 2000;

const log = (...a) => process.stderr.write(`[browser] ${new Date().toISOString().slice(11, 23)} ${a.join(" ")}\n`);

function fail(code, msg) {
  process.stderr.write(`run.mjs: ${msg}\n`);
  process.exit(code);
}

// Commands arriving on stdin after the spec line.
const control = {
  stopRequested: false,
  stdinEnded: false,
  stopOnEnd: false, // spec.control: stdin ending means the driver is gone
  get stopped() {
    return this.stopRequested || (this.stopOnEnd && this.stdinEnded);
  },
  started: new Set(), // identities released by "start <identity>"
  startAll: false,
  waiters: new Set(),
  wake() {
    for (const w of this.waiters) w();
    this.waiters.clear();
  },
  // Resolves when pred() holds, "stop" arrives, or ms pass; returns pred().
  async waitFor(pred, ms) {
    const until = Date.now() + ms;
    while (!pred() && !this.stopped && Date.now() < until) {
      await new Promise((r) => {
        const timer = setTimeout(r, Math.max(0, until - Date.now()));
        this.waiters.add(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
    return pred();
  },
  command(line) {
    const [cmd, arg] = line.trim().split(/\s+/, 2);
    if (cmd === 'stop') this.stopRequested = true;
    else if (cmd === 'start' && arg) this.started.add(arg);
    else if (cmd === 'start') this.startAll = true;
    else if (cmd) log(`unknown command ${JSON.stringify(line.trim())}`);
    this.wake();
  },
};

// readSpec reads the spec from argv[2], or the first line of stdin (the rest of stdin then
// carries commands), or all of stdin when it holds no newline.
async function readSpec() {
  let text = process.argv[2];
  if (!text) {
    text = await new Promise((resolve) => {
      let buf = '';
      let got = false;
      const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
      control.rl = rl;
      rl.on('line', (line) => {
        if (got) return control.command(line);
        // The spec may span lines (pretty-printed by hand): it ends where it parses.
        buf += line + '\n';
        try {
          JSON.parse(buf);
        } catch {
          return;
        }
        got = true;
        resolve(buf);
      });
      rl.on('close', () => {
        control.stdinEnded = true;
        control.wake();
        if (!got) resolve(buf);
      });
    });
  }
  let spec;
  try {
    spec = JSON.parse(text);
  } catch (e) {
    fail(1, `spec is not JSON: ${e.message}`);
  }
  if (typeof spec.url !== 'string' || !/^wss?:\/\//.test(spec.url)) fail(1, 'spec.url must be a ws:// or wss:// URL');
  if (!Array.isArray(spec.participants) || spec.participants.length === 0) fail(1, 'spec.participants must be a non-empty list');
  for (const p of spec.participants) {
    if (!p || typeof p.identity !== 'string' || typeof p.token !== 'string') fail(1, 'each participant needs identity and token');
  }
  const timeline = spec.participants.some((p) => p.timelineMs > 0);
  return {
    timeline,
    control: !!spec.control,
    startTimeoutMs: spec.startTimeoutMs || 120000,
    url: spec.url,
    participants: spec.participants,
    durationMs: Number.isFinite(spec.durationMs) ? spec.durationMs : 8000,
    forceV0: !!spec.forceV0,
    singlePeerConnection: spec.singlePeerConnection !== false,
    expectWidth: spec.expectWidth || 1280,
    expectHeight: spec.expectHeight || 720,
    connectTimeoutMs: spec.connectTimeoutMs || 20000,
    logLevel: spec.logLevel || 'warn',
    verbose: !!spec.verbose,
    chromiumArgs: Array.isArray(spec.chromiumArgs) ? spec.chromiumArgs : [],
    turnTransports: Array.isArray(spec.turnTransports) ? spec.turnTransports : undefined,
  };
}

async function loadDeps() {
  if (!existsSync(join(here, 'node_modules', 'playwright-core')) || !existsSync(join(here, 'node_modules', 'esbuild'))) {
    fail(1, `dependencies are missing in ${join(here, 'node_modules')}: run \`make test\` or \`npm ci --prefix test/browser\``);
  }
  const [{ chromium }, esbuild] = await Promise.all([import('playwright-core'), import('esbuild')]);
  return { chromium, esbuild };
}

async function bundlePage(esbuild) {
  const res = await esbuild.build({
    entryPoints: [join(here, 'page.ts')],
    bundle: true,
    format: 'esm',
    target: 'chrome120',
    write: false,
    logLevel: 'silent',
    absWorkingDir: here,
  });
  return res.outputFiles[0].text;
}

function serve(pageJs) {
  // livekit-client's E2EE worker, for participants with an e2eeKey.
  const workerPath = join(here, 'node_modules', 'livekit-client', 'dist', 'livekit-client.e2ee.worker.mjs');
  const html =
    '<!doctype html><html><head><meta charset="utf-8"><title>hop test</title></head>' +
    '<body><script type="module" src="/page.js"></script></body></html>';
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(html);
    } else if (path === '/page.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      res.end(pageJs);
    } else if (path === '/e2ee-worker.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      res.end(readFileSync(workerPath));
    } else if (path === '/favicon.ico') {
      res.writeHead(204);
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const spec = await readSpec();
  const { chromium, esbuild } = await loadDeps();
  const n = spec.participants.length;
  // Launch + bundle + connect + settle + duration + samples + report + close; in timeline mode
  // the longest wait to start plus timeline instead of duration and samples.
  const mediaMs = spec.timeline
    ? Math.max(
        ...spec.participants.map(
          (p) => (p.waitStart ? spec.startTimeoutMs : 0) + (p.startDelayMs || 0) + (p.timelineMs || spec.durationMs),
        ),
      )
    : spec.durationMs + SAMPLE_GAP_MS;
  const boundMs = 30000 + spec.connectTimeoutMs + 10000 + mediaMs + 20000;
  control.stopOnEnd = spec.timeline && spec.control;
  let browser;
  let server;
  const state = spec.participants.map((p) => ({
    identity: p.identity,
    page: undefined,
    console: [],
    pageErrors: [],
    harnessErrors: [],
    connected: false,
  }));

  const cleanup = async () => {
    await Promise.allSettled([
      browser ? withTimeout(browser.close(), 10000, 'closing Chromium') : undefined,
      server ? new Promise((r) => server.close(r)) : undefined,
    ]);
  };
  const watchdog = setTimeout(async () => {
    process.stderr.write(`run.mjs: the run overran its bound of ${boundMs} ms\n`);
    await withTimeout(cleanup(), 10000, 'cleanup').catch(() => {});
    process.exit(4);
  }, boundMs);
  watchdog.unref();

  const started = Date.now();
  let exitCode = 0;
  let result;
  try {
    const pageJs = await bundlePage(esbuild).catch((e) => fail(1, `bundling page.ts failed: ${e.message}`));
    server = await serve(pageJs);
    const origin = `http://127.0.0.1:${server.address().port}`;

    try {
      browser = await withTimeout(
        chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...(spec.chromiumArgs || [])], timeout: 20000 }),
        25000,
        'launching Chromium',
      );
    } catch (e) {
      fail(2, `Chromium (${CHROMIUM}) could not start: ${e.message}`);
    }
    if (spec.verbose) log(`Chromium ${browser.version()} started; page at ${origin}`);

    // One context per participant, all loaded in parallel.
    await Promise.all(
      state.map(async (st) => {
        const p = spec.participants[state.indexOf(st)];
        // Room for a remote tile of the requested CSS size inside the viewport (adaptiveStream
        // measures the element; one outside the viewport would count as hidden).
        const viewport = {
          width: Math.max(800, (p.tileWidth || 0) + 40),
          height: Math.max(600, (p.tileHeight || 0) + 80),
        };
        const ctx = await browser.newContext({ viewport });
        await ctx.grantPermissions(['camera', 'microphone'], { origin });
        const page = await ctx.newPage();
        st.page = page;
        page.on('console', (m) => {
          const type = m.type();
          const line = `${type}: ${redact(m.text())}`;
          if (spec.verbose) log(`${st.identity} ${line}`);
          if ((type === 'error' || type === 'warning') && st.console.length < 200) st.console.push(line);
        });
        page.on('pageerror', (e) => st.pageErrors.push(String(e && e.stack ? e.stack : e)));
        page.on('crash', () => st.harnessErrors.push('page crashed'));
        await page.goto(`${origin}/`, { waitUntil: 'load', timeout: 15000 });
        await page.waitForFunction(() => !!window.hop, null, { timeout: 10000 });
      }),
    );

    const connectOne = async (st, i) => {
      const p = spec.participants[i];
      try {
        const r = await withTimeout(
          st.page.evaluate((o) => window.hop.connect(o), {
            url: spec.url,
            token: p.token,
            identity: p.identity,
            singlePeerConnection: spec.singlePeerConnection,
            width: spec.expectWidth,
            height: spec.expectHeight,
            logLevel: spec.logLevel,
            publish: p.publish,
            adaptiveStream: p.adaptiveStream,
            dynacast: p.dynacast,
            tileWidth: p.tileWidth,
            tileHeight: p.tileHeight,
            dtx: p.dtx,
            red: p.red,
            e2eeKey: p.e2eeKey,
            turnTransports: spec.turnTransports,
            rawAudio: p.rawAudio,
          }),
          spec.connectTimeoutMs,
          `${p.identity}: connecting`,
        );
        st.connected = true;
        return r;
      } catch (e) {
        st.harnessErrors.push(`connect failed: ${firstLine(e)}`);
        return null;
      }
    };

    let connectResults;
    if (spec.timeline) {
      // Each participant on its own: wait for its start, join, sample until its timeline ends or
      // "stop" arrives.
      await Promise.all(state.map((st, i) => runTimeline(st, i, spec, connectOne)));
    } else {
      // Connect everyone at once; each must get through within connectTimeoutMs.
      connectResults = await Promise.all(state.map((st, i) => connectOne(st, i)));
    }
    const notConnected = state.filter((s) => !s.connected).map((s) => s.identity);
    if (notConnected.length) {
      exitCode = 3;
      process.stderr.write(`run.mjs: could not connect within ${spec.connectTimeoutMs} ms: ${notConnected.join(', ')}\n`);
      for (const s of state.filter((x) => !x.connected)) {
        process.stderr.write(`  ${s.identity}: ${s.harnessErrors.join('; ')}\n`);
        for (const c of s.console.slice(-8)) process.stderr.write(`    console ${c}\n`);
      }
    } else if (!spec.timeline) {
      if (spec.verbose) log(`all ${n} connected: ${connectResults.map((r) => r.connectMs).join(', ')} ms`);
      // Everyone sees everyone, then everyone says hello.
      await Promise.all(state.map((st) => st.page.evaluate((c) => window.hop.waitForRemotes(c, 10000), n - 1)));
      await Promise.all(
        state.map((st) =>
          st.page.evaluate(() => window.hop.sendHello()).catch((e) => st.harnessErrors.push(`sendHello: ${firstLine(e)}`)),
        ),
      );
      // Media flows until every page decodes every remote video at the expected size (the
      // publishers' bandwidth estimates ramp up to the top layer at their own pace), for at most
      // durationMs; then the two samples are taken.
      const until = Date.now() + spec.durationMs;
      await sleep(Math.min(3000, spec.durationMs));
      while (Date.now() < until) {
        const ok = await Promise.all(
          state.map((st) => st.page.evaluate(([w, h]) => window.hop.reached(w, h), [spec.expectWidth, spec.expectHeight])),
        );
        if (ok.every(Boolean)) break;
        await sleep(500);
      }
      await Promise.all(state.map((st) => st.page.evaluate(() => window.hop.sample())));
      await sleep(SAMPLE_GAP_MS);
      await Promise.all(state.map((st) => st.page.evaluate(() => window.hop.sample())));
    }

    const reports = await Promise.all(
      state.map(async (st) => {
        let rep;
        try {
          rep = await withTimeout(st.page.evaluate(() => window.hop.report()), 10000, 'report');
        } catch (e) {
          st.harnessErrors.push(`report: ${firstLine(e)}`);
          rep = { identity: st.identity, connected: false, remotes: [], dataReceived: [], errors: [] };
        }
        return shape(rep, st, spec);
      }),
    );
    await Promise.allSettled(
      state.map((st) => (st.page ? withTimeout(st.page.evaluate(() => window.hop.disconnect()), 5000, 'disconnect') : undefined)),
    );
    result = {
      ok: exitCode === 0 && reports.every((r) => r.errors.length === 0),
      url: spec.url,
      chromium: browser.version(),
      elapsedMs: Date.now() - started,
      participants: reports,
    };
  } catch (e) {
    if (exitCode === 0) exitCode = 3;
    process.stderr.write(`run.mjs: ${e && e.stack ? e.stack : e}\n`);
  } finally {
    await cleanup();
    clearTimeout(watchdog);
  }
  if (result) process.stdout.write(JSON.stringify(result) + '\n');
  process.exitCode = exitCode;
  // An open stdin (a driver that keeps it for commands) must not keep the process alive.
  control.rl?.close();
  process.stdin.destroy();
}

// emit prints one streamed line (a timeline sample or an event) on stdout.
function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// runTimeline: one participant of a timeline run, from its start to the end of its timeline.
async function runTimeline(st, i, spec, connectOne) {
  const p = spec.participants[i];
  if (p.waitStart) {
    const released = await control.waitFor(() => control.startAll || control.started.has(p.identity), spec.startTimeoutMs);
    if (!released) {
      st.harnessErrors.push(control.stopped ? 'stopped before it was started' : `not started within ${spec.startTimeoutMs} ms`);
      return;
    }
  } else if (p.startDelayMs > 0) {
    await control.waitFor(() => false, p.startDelayMs);
    if (control.stopped) {
      st.harnessErrors.push('stopped before it was started');
      return;
    }
  }
  emit({ type: 'event', identity: p.identity, event: { at: Date.now(), kind: 'joining', detail: '' } });
  const r = await connectOne(st, i);
  if (!r) {
    process.stderr.write(`run.mjs: ${p.identity} could not connect: ${st.harnessErrors.join('; ')}\n`);
    for (const c of st.console.slice(-8)) process.stderr.write(`    console ${c}\n`);
    return;
  }
  if (spec.verbose) log(`${p.identity} connected in ${r.connectMs} ms`);
  const sampleMs = p.sampleMs > 0 ? p.sampleMs : 200;
  const until = Date.now() + (p.timelineMs || spec.durationMs);
  while (!control.stopped && Date.now() < until) {
    const t0 = Date.now();
    let sample;
    try {
      sample = await withTimeout(st.page.evaluate(() => window.hop.tick()), 5000, 'tick');
    } catch (e) {
      st.harnessErrors.push(`tick: ${firstLine(e)}`);
      break;
    }
    for (const ev of sample.events) emit({ type: 'event', identity: p.identity, event: ev });
    delete sample.events;
    // The next sample is due a period after this one was taken (its own clock, not t0: the call
    // into the page can be delayed, and a late tick must not be followed by an early one).
    const next = (typeof sample.at === 'number' ? sample.at : t0) + sampleMs;
    emit({ type: 'sample', identity: p.identity, sample });
    await control.waitFor(() => false, Math.max(0, Math.min(next - Date.now(), until - Date.now())));
  }
}

function firstLine(e) {
  return redact(String(e && e.message ? e.message : e).split('\n')[0]);
}

// redact keeps tokens and the long join_request blobs out of logs and reports.
function redact(s) {
  return s.replace(/(access_token=)[^&'"\s]+/g, '$1<redacted>').replace(/(join_request=)[^&'"\s]+/g, '$1…');
}

// shape turns a page report into the JSON the Go side reads, with the checks that need the spec.
function shape(rep, st, spec) {
  const errors = [...st.harnessErrors, ...(rep.errors || []), ...st.pageErrors.map((e) => `page error: ${e}`)];
  const sockets = rep.signalSockets || [];
  const opened = sockets.filter((s) => s.opened);
  const signalPath = opened.length ? opened[opened.length - 1].path : '';
  if (spec.forceV0 && st.connected && signalPath !== '/rtc') {
    errors.push(`forceV0: expected the client on /rtc, it used ${signalPath || 'no websocket'}`);
  }
  const remotes = (rep.remotes || []).map((r) => {
    const s1 = r.samples[r.samples.length - 2] || {};
    const s2 = r.samples[r.samples.length - 1] || {};
    const v1 = s1.video || {};
    const v2 = s2.video || {};
    const a1 = s1.audio || {};
    const a2 = s2.audio || {};
    const width = v2.width || 0;
    const height = v2.height || 0;
    return {
      identity: r.identity,
      videoPublished: r.videoPublished,
      videoSubscribed: r.videoSubscribed,
      audioPublished: r.audioPublished,
      audioSubscribed: r.audioSubscribed,
      video: {
        width,
        height,
        expectedSize: width === spec.expectWidth && height === spec.expectHeight,
        framesDecoded: [v1.framesDecoded ?? 0, v2.framesDecoded ?? 0],
        playbackFrames: [v1.playbackFrames ?? 0, v2.playbackFrames ?? 0],
        framesPerSecond: v2.framesPerSecond ?? 0,
        bytesReceived: v2.bytesReceived ?? 0,
        packetsReceived: v2.packetsReceived ?? 0,
        packetsLost: v2.packetsLost ?? 0,
        keyFramesDecoded: v2.keyFramesDecoded ?? 0,
        nackCount: v2.nackCount ?? 0,
        pliCount: v2.pliCount ?? 0,
        firCount: v2.firCount ?? 0,
        codec: v2.codec ?? '',
      },
      audio: {
        packetsReceived: [a1.packetsReceived ?? 0, a2.packetsReceived ?? 0],
        totalAudioEnergy: [a1.totalAudioEnergy ?? 0, a2.totalAudioEnergy ?? 0],
        audioLevel: [a1.audioLevel ?? 0, a2.audioLevel ?? 0],
        concealedSamples: a2.concealedSamples ?? 0,
        totalSamplesReceived: a2.totalSamplesReceived ?? 0,
        codec: a2.codec ?? '',
      },
    };
  });
  return {
    identity: rep.identity || st.identity,
    connected: !!st.connected,
    state: rep.state || '',
    connectMs: rep.connectMs || 0,
    signalPath,
    signalSockets: sockets,
    sid: rep.sid || '',
    serverInfo: rep.serverInfo || null,
    local: rep.local || null,
    remotes,
    peerConnections: rep.peerConnections || [],
    dataReceived: rep.dataReceived || [],
    events: rep.events || [],
    errors,
    console: st.console,
  };
}

main().catch((e) => fail(3, e && e.stack ? e.stack : String(e)));
