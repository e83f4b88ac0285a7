import { describe, expect, it } from 'vitest';
import { deviceChoices } from '../src/devices';

const cams = [
  { deviceId: 'a06da0', label: 'fake_device_0' },
  { deviceId: 'b31daa', label: 'fake_device_1' },
];
const mics = [
  { deviceId: 'default', label: 'Default' },
  { deviceId: 'db6e98', label: 'Mic 1' },
];

describe('device choices', () => {
  it('selects the device in use', () => {
    expect(deviceChoices(cams, 'b31daa').map((o) => [o.label, o.selected])).toEqual([
      ['fake_device_0', false],
      ['fake_device_1', true],
    ]);
  });

  it('falls back to the browser default, then the first, when the one in use is gone', () => {
    expect(deviceChoices(mics, 'unplugged').find((o) => o.selected)?.id).toBe('default');
    expect(deviceChoices(cams, undefined).find((o) => o.selected)?.id).toBe('a06da0');
  });

  it('leaves out devices listed without permission and names those without a label', () => {
    const out = deviceChoices([{ deviceId: '', label: '' }, { deviceId: '0123456789ab', label: '' }], undefined);
    expect(out).toEqual([{ id: '0123456789ab', label: '01234567', selected: true }]);
    expect(deviceChoices([], 'x')).toEqual([]);
  });

  it('selects exactly one', () => {
    for (const active of [undefined, 'default', 'db6e98', 'nope']) expect(deviceChoices(mics, active).filter((o) => o.selected)).toHaveLength(1);
  });
});
