import { describe, expect, it } from 'vitest';
import { isKeyError, tileLock } from '../src/e2ee';

describe('end-to-end encryption notices', () => {
  it("tells a wrong or missing key from the worker's other errors", () => {
    expect(isKeyError(new Error('InvalidKey: Decryption failed: OperationError'))).toBe(true);
    expect(isKeyError(new Error('MissingKey: missing key at index 3 for participant x'))).toBe(true);
    expect(isKeyError(new Error('InternalError: encryption state unknown for track'))).toBe(false);
    expect(isKeyError(undefined)).toBe(false);
  });

  it('says on a tile what this person can and cannot see', () => {
    const base = { encrypting: true, failed: false, published: 2, encrypted: true };
    expect(tileLock(base)).toBe('');
    expect(tileLock({ ...base, failed: true })).toBe('fail');
    expect(tileLock({ ...base, encrypted: false })).toBe('plain');
    // Someone who publishes nothing sends nothing in the clear.
    expect(tileLock({ ...base, encrypted: false, published: 0 })).toBe('');
    expect(tileLock({ ...base, encrypting: false })).toBe('needKey');
    expect(tileLock({ ...base, encrypting: false, encrypted: false })).toBe('');
  });
});
