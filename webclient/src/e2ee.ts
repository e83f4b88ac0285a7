// End-to-end encryption: media encrypted in the browser with a key derived from a passphrase
// the participants share out of band, so the node forwards what it cannot read.

import { type E2EEOptions, ExternalE2EEKeyProvider, type Participant } from 'livekit-client';
import type { Key } from './i18n';

/** Keys is one meeting connection's encryption: the key from the passphrase and its worker. */
export class Keys {
  private constructor(
    readonly options: E2EEOptions,
    private worker: Worker,
  ) {}

  static async fromPassphrase(passphrase: string): Promise<Keys> {
    const keyProvider = new ExternalE2EEKeyProvider();
    await keyProvider.setKey(passphrase);
    const worker = new Worker(new URL('livekit-client/e2ee-worker', import.meta.url), { type: 'module' });
    return new Keys({ keyProvider, worker }, worker);
  }

  stop(): void {
    this.worker.terminate();
  }
}

/** TileLock is what a tile says about a participant's encryption: nothing, frames that do not
 *  decrypt with this passphrase, media sent in the clear into an encrypted meeting, or
 *  encrypted media this person joined without a passphrase for. */
export type TileLock = '' | 'fail' | 'plain' | 'needKey';

export const lockKey: Record<Exclude<TileLock, ''>, Key> = { fail: 'e2eeTileFail', plain: 'e2eeTilePlain', needKey: 'e2eeTileNeedKey' };

/** isKeyError tells the worker's decryption failures (a wrong or missing key) from its other errors. */
export function isKeyError(err: { message?: string } | undefined): boolean {
  return /^(InvalidKey|MissingKey)\b/.test(err?.message ?? '');
}

/** tileLock decides a remote tile's encryption notice. */
export function tileLock(opts: { encrypting: boolean; failed: boolean; published: number; encrypted: boolean }): TileLock {
  if (opts.encrypting) {
    if (opts.failed) return 'fail';
    return opts.published > 0 && !opts.encrypted ? 'plain' : '';
  }
  return opts.published > 0 && opts.encrypted ? 'needKey' : '';
}

/** lockOf reads tileLock's inputs from a participant. */
export function lockOf(p: Participant, encrypting: boolean, failed: boolean): TileLock {
  return tileLock({ encrypting, failed, published: p.trackPublications.size, encrypted: p.isEncrypted });
}
