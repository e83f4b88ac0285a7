// Before joining: name, camera preview, microphone level, devices, and joining with either off.

import { isE2EESupported, type LocalAudioTrack, type LocalVideoTrack } from 'livekit-client';
import { browserHelpKey, LevelMeter, listDevices, type MediaProblem, openCamera, openMic, problemKey, problemOf } from './devices';
import { clear, h, setLabel, setText } from './dom';
import { setIcon } from './icons';
import type { Key } from './i18n';
import { cleanName, initials } from './names';
import { store } from './storage';

export interface Choice {
  name: string;
  mic: boolean;
  cam: boolean;
  video?: LocalVideoTrack;
  audio?: LocalAudioTrack;
  speaker?: string;
  password?: string;
  /** e2ee is the encryption passphrase when the person chose end-to-end encryption. */
  e2ee?: string;
}

export interface PreJoin {
  el: HTMLElement;
  /** showError shows why joining failed; the form stays usable. */
  showError(key: Key, params?: Record<string, string | number>): void;
  busy(on: boolean): void;
  /** askPassword shows the meeting password field (the node asked for it). */
  askPassword(): void;
  /** waiting shows the lobby's waiting screen in place of the form (null: the form again). */
  waiting(onLeave: (() => void) | null): void;
  destroy(keepTracks: boolean): void;
}

export function preJoin(room: string, onJoin: (c: Choice) => void): PreJoin {
  let video: LocalVideoTrack | undefined;
  let audio: LocalAudioTrack | undefined;
  let camOn = true;
  let micOn = true;
  const problems: { cam?: MediaProblem; mic?: MediaProblem } = {};
  const meter = new LevelMeter();

  const preview = h('video', { testid: 'prejoin-preview', class: 'preview-video', autoplay: true, muted: true, playsinline: true });
  const avatar = h('div', { class: 'avatar big', 'aria-hidden': 'true' });
  const level = h('div', { class: 'meter-fill' });
  const meterEl = h('div', { class: 'meter', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 100, i18nAria: 'micLevel' }, level);
  const nameInput = h('input', { testid: 'name-input', id: 'name-input', maxlength: 64, autocomplete: 'nickname', required: true, value: store.name() });
  const micBtn = h('button', { type: 'button', testid: 'mic-toggle', class: 'round', onclick: () => void toggleMic() });
  const camBtn = h('button', { type: 'button', testid: 'camera-toggle', class: 'round', onclick: () => void toggleCam() });
  const camSel = h('select', { i18nAria: 'camera', onchange: () => void switchCam() });
  const micSel = h('select', { i18nAria: 'microphone', onchange: () => void switchMic() });
  const spkSel = h('select', { i18nAria: 'speaker', onchange: () => store.setDevice('audiooutput', spkSel.value) });
  const errBox = h('div', { testid: 'error-message', class: 'error', role: 'alert', hidden: true });
  const mediaBox = h('div', { class: 'notice', role: 'status', hidden: true });
  const joinBtn = h('button', { type: 'submit', testid: 'join-button', class: 'primary wide', i18n: 'join' });
  const passwordInput = h('input', { type: 'password', testid: 'password-input', id: 'password-input', maxlength: 64, autocomplete: 'off' });
  const passwordRow = h('div', { class: 'password-row', hidden: true }, h('label', { for: 'password-input', i18n: 'passwordPrompt' }), passwordInput);
  const e2eeSupported = isE2EESupported();
  const e2eeBox = h('input', { type: 'checkbox', testid: 'e2ee-toggle', disabled: !e2eeSupported, onchange: () => {
    e2eeRow.hidden = !e2eeBox.checked;
    if (e2eeBox.checked) e2eeInput.focus();
  } });
  // Never autocompleted or remembered: the passphrase lives in this tab's memory only.
  const e2eeInput = h('input', { type: 'password', testid: 'e2ee-passphrase', id: 'e2ee-passphrase', maxlength: 256, autocomplete: 'off' });
  const e2eeRow = h('div', { class: 'password-row', hidden: true }, h('label', { for: 'e2ee-passphrase', i18n: 'e2eePassphrase' }), e2eeInput, h('p', { class: 'hint', i18n: 'e2eeHint' }));
  const e2eeOption = h('div', { class: 'e2ee-option' }, h('label', { class: 'check' }, e2eeBox, h('span', { i18n: 'e2eeOption' })), e2eeSupported ? null : h('p', { class: 'hint', i18n: 'e2eeUnsupported' }), e2eeRow);
  const leaveLobby = h('button', { type: 'button', testid: 'lobby-leave', i18n: 'lobbyLeave' });
  const waitingCard = h(
    'div',
    { class: 'card waiting', testid: 'lobby-waiting', role: 'status', hidden: true },
    h('div', { class: 'spinner', 'aria-hidden': 'true' }),
    h('h1', { i18n: 'lobbyWaitingTitle' }),
    h('p', { class: 'room-name' }, room),
    h('p', { i18n: 'lobbyWaitingText' }),
    leaveLobby,
  );

  const form = h(
    'form',
    { class: 'card prejoin-form', onsubmit: (e: Event) => void submit(e) },
    h('h1', { i18n: 'prejoinTitle' }),
    h('p', { class: 'room-name' }, room),
    h('label', { for: 'name-input', i18n: 'nameLabel' }),
    nameInput,
    h('div', { class: 'devices' }, h('label', {}, h('span', { i18n: 'camera' }), camSel), h('label', {}, h('span', { i18n: 'microphone' }), micSel), h('label', {}, h('span', { i18n: 'speaker' }), spkSel)),
    passwordRow,
    e2eeOption,
    mediaBox,
    errBox,
    joinBtn,
  );
  const el = h(
    'section',
    { class: 'prejoin' },
    h('div', { class: 'preview' }, preview, avatar, h('div', { class: 'preview-controls' }, micBtn, camBtn), meterEl),
    form,
    waitingCard,
  );

  const render = () => {
    setLabel(micBtn, micOn && audio ? 'micTurnOff' : 'micTurnOn');
    micBtn.classList.toggle('off', !(micOn && audio));
    setIcon(micBtn, micOn && audio ? 'mic' : 'micOff');
    micBtn.setAttribute('aria-pressed', String(!(micOn && audio)));
    setLabel(camBtn, camOn && video ? 'camTurnOff' : 'camTurnOn');
    camBtn.classList.toggle('off', !(camOn && video));
    setIcon(camBtn, camOn && video ? 'cam' : 'camOff');
    camBtn.setAttribute('aria-pressed', String(!(camOn && video)));
    preview.hidden = !(camOn && video);
    avatar.hidden = !preview.hidden;
    avatar.textContent = initials(nameInput.value || '?');
    meterEl.hidden = !(micOn && audio);
    const lines: HTMLElement[] = [];
    for (const [kind, p] of [['camera', problems.cam], ['mic', problems.mic]] as const) {
      if (p) lines.push(h('p', { i18n: problemKey(p, kind) }));
    }
    if (problems.cam === 'permission' || problems.mic === 'permission') lines.push(h('p', { class: 'help', i18n: browserHelpKey() }));
    if (lines.length) lines.push(h('p', { class: 'help', i18n: 'joinWithout' }));
    clear(mediaBox);
    mediaBox.append(...lines);
    mediaBox.hidden = lines.length === 0;
    if (lines.length && !errBox.dataset.i18n) {
      // The media problem is the error a test or screen reader should find first.
      mediaBox.dataset.testid = 'error-message';
    } else delete mediaBox.dataset.testid;
  };

  const fill = async () => {
    const denied = problems.cam === 'permission' || problems.mic === 'permission';
    for (const [sel, kind, current] of [
      [camSel, 'videoinput', video?.mediaStreamTrack.getSettings().deviceId],
      [micSel, 'audioinput', audio?.mediaStreamTrack.getSettings().deviceId],
      [spkSel, 'audiooutput', store.device('audiooutput')],
    ] as const) {
      // Without permission browsers list devices without ids or names.
      const list = (await listDevices(kind)).filter((d) => d.deviceId !== '');
      clear(sel);
      for (const d of list) sel.append(h('option', { value: d.deviceId, selected: d.deviceId === current }, d.label || d.deviceId.slice(0, 8)));
      sel.disabled = list.length === 0;
      if (list.length === 0) sel.append(h('option', { i18n: denied ? 'noPermission' : 'noDevices' }));
    }
  };

  // The devices being opened: joining waits for them, or someone quick to click would join
  // with a microphone still opening, muted without having asked.
  let opening: Promise<void>[] = [];
  const whileOpening = (p: Promise<void>) => {
    opening.push(p);
    return p;
  };
  const startCam = () =>
    whileOpening(
      (async () => {
        try {
          video = await openCamera(store.device('videoinput'));
          video.attach(preview);
          problems.cam = undefined;
        } catch (err) {
          video = undefined;
          problems.cam = problemOf(err);
        }
      })(),
    );
  const startMic = () =>
    whileOpening(
      (async () => {
        try {
          audio = await openMic(store.device('audioinput'));
          meter.start(audio.mediaStreamTrack, (v) => (level.style.width = `${Math.round(v * 100)}%`));
          problems.mic = undefined;
        } catch (err) {
          audio = undefined;
          problems.mic = problemOf(err);
        }
      })(),
    );

  async function toggleMic() {
    micOn = !micOn;
    if (micOn && !audio) await startMic();
    if (!micOn && audio) {
      meter.stop();
      audio.stop();
      audio = undefined;
    }
    render();
  }
  async function toggleCam() {
    camOn = !camOn;
    if (camOn && !video) await startCam();
    if (!camOn && video) {
      video.stop();
      video = undefined;
    }
    render();
  }
  async function switchCam() {
    store.setDevice('videoinput', camSel.value);
    if (video) await video.setDeviceId(camSel.value);
  }
  async function switchMic() {
    store.setDevice('audioinput', micSel.value);
    if (audio) await audio.setDeviceId(micSel.value);
  }

  async function submit(e: Event) {
    e.preventDefault();
    const name = cleanName(nameInput.value);
    if (!name) {
      showError('errNameRequired');
      nameInput.focus();
      return;
    }
    const e2ee = e2eeBox.checked ? e2eeInput.value : undefined;
    if (e2ee !== undefined && e2ee.length < 8) {
      showError('errE2EEPassphrase');
      e2eeInput.focus();
      return;
    }
    store.setName(name);
    joinBtn.disabled = true;
    while (opening.length) {
      const now = opening;
      opening = [];
      await Promise.all(now);
    }
    joinBtn.disabled = false;
    render();
    onJoin({
      name,
      mic: micOn && !!audio,
      cam: camOn && !!video,
      video: camOn ? video : undefined,
      audio: micOn ? audio : undefined,
      speaker: spkSel.value || undefined,
      password: passwordRow.hidden ? undefined : passwordInput.value,
      e2ee,
    });
  }

  function showError(key: Key, params?: Record<string, string | number>) {
    setText(errBox, key, params);
    errBox.hidden = false;
    render();
  }

  nameInput.addEventListener('input', render);
  render();
  void (async () => {
    await Promise.all([startCam(), startMic()]);
    render();
    await fill();
  })();
  setTimeout(() => nameInput.focus(), 0);

  return {
    el,
    showError,
    busy(on) {
      joinBtn.disabled = on;
      setText(joinBtn, on ? 'joining' : 'join');
      if (on) {
        errBox.hidden = true;
        delete errBox.dataset.i18n;
      }
    },
    askPassword() {
      passwordRow.hidden = false;
      passwordInput.select();
      passwordInput.focus();
    },
    waiting(onLeave) {
      form.hidden = !!onLeave;
      waitingCard.hidden = !onLeave;
      leaveLobby.onclick = onLeave;
      if (onLeave) leaveLobby.focus();
    },
    destroy(keepTracks) {
      meter.stop();
      if (video) video.detach(preview);
      if (!keepTracks) {
        video?.stop();
        audio?.stop();
      }
    },
  };
}
