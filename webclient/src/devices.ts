// Cameras, microphones and speakers: choosing them, previewing them, and saying in words why
// one cannot be used.

import { createLocalAudioTrack, createLocalVideoTrack, type LocalAudioTrack, type LocalVideoTrack, Room, VideoPresets } from 'livekit-client';
import type { Key } from './i18n';

export type MediaProblem = 'permission' | 'nodevice' | 'busy' | 'other';

/** problemOf classifies a getUserMedia failure. */
export function problemOf(err: unknown): MediaProblem {
  const name = (err as { name?: string })?.name ?? '';
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') return 'permission';
  if (name === 'NotFoundError' || name === 'DevicesNotFoundError' || name === 'OverconstrainedError') return 'nodevice';
  if (name === 'NotReadableError' || name === 'TrackStartError' || name === 'AbortError') return 'busy';
  return 'other';
}

/** problemKey is the message for a problem with the camera or microphone. */
export function problemKey(p: MediaProblem, kind: 'camera' | 'mic'): Key {
  if (p === 'permission') return kind === 'camera' ? 'errCameraDenied' : 'errMicDenied';
  if (p === 'nodevice') return kind === 'camera' ? 'errNoCamera' : 'errNoMic';
  if (p === 'busy') return kind === 'camera' ? 'errCameraBusy' : 'errMicBusy';
  return kind === 'camera' ? 'errCameraOther' : 'errMicOther';
}

/** browserHelpKey says how to allow the camera and microphone in this browser. */
export function browserHelpKey(ua: string = navigator.userAgent): Key {
  if (/Edg\//.test(ua)) return 'helpEdge';
  if (/Firefox\//.test(ua)) return 'helpFirefox';
  if (/Safari\//.test(ua) && !/Chrom(e|ium)\//.test(ua)) return /iPhone|iPad/.test(ua) ? 'helpIOS' : 'helpSafari';
  return 'helpChrome';
}

export async function listDevices(kind: MediaDeviceKind): Promise<MediaDeviceInfo[]> {
  try {
    return await Room.getLocalDevices(kind, false);
  } catch {
    return [];
  }
}

export async function openCamera(deviceId?: string): Promise<LocalVideoTrack> {
  return createLocalVideoTrack({ deviceId, resolution: VideoPresets.h720.resolution });
}

export async function openMic(deviceId?: string): Promise<LocalAudioTrack> {
  return createLocalAudioTrack({ deviceId, echoCancellation: true, noiseSuppression: true, autoGainControl: true });
}

/** LevelMeter reads a microphone's loudness for the pre-join meter. */
export class LevelMeter {
  private ctx?: AudioContext;
  private timer = 0;

  start(track: MediaStreamTrack, onLevel: (level: number) => void): void {
    this.stop();
    const ctx = new AudioContext();
    const src = ctx.createMediaStreamSource(new MediaStream([track]));
    const an = ctx.createAnalyser();
    an.fftSize = 512;
    src.connect(an);
    const buf = new Float32Array(an.fftSize);
    this.ctx = ctx;
    this.timer = window.setInterval(() => {
      an.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const v of buf) sum += v * v;
      onLevel(Math.min(1, Math.sqrt(sum / buf.length) * 4));
    }, 100);
  }

  stop(): void {
    clearInterval(this.timer);
    void this.ctx?.close();
    this.ctx = undefined;
  }
}

export interface DeviceOption {
  id: string;
  label: string;
  selected: boolean;
}

/** deviceChoices is what a device list shows: the devices the browser named (without permission
 *  it lists them without ids), with the one in use selected — the active id when the list has
 *  it, else the browser's default, else the first. */
export function deviceChoices(list: Pick<MediaDeviceInfo, 'deviceId' | 'label'>[], active?: string): DeviceOption[] {
  const named = list.filter((d) => d.deviceId !== '');
  const chosen = named.some((d) => d.deviceId === active) ? active : named.some((d) => d.deviceId === 'default') ? 'default' : named[0]?.deviceId;
  return named.map((d) => ({ id: d.deviceId, label: d.label || d.deviceId.slice(0, 8), selected: d.deviceId === chosen }));
}
