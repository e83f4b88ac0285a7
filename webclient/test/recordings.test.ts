import { describe, expect, it } from 'vitest';
import { parseRecordings } from '../src/api';
import { recordedWhen } from '../src/recordings';

describe('recordings', () => {
  it('reads the node list (protobuf JSON), newest first, links only for stored files', () => {
    const list = parseRecordings({
      items: [
        { egressId: 'EG_old', status: 'EGRESS_COMPLETE', startedAt: '1765184400000000000', endedAt: '1765188000000000000',
          fileResults: [{ filename: 'composite.mp4', location: '/var/lib/hop/recordings/EG_old/composite.mp4', size: '1234' }] },
        { egressId: 'EG_new', status: 'EGRESS_ACTIVE', startedAt: '1765270800000000000' },
        { egressId: 'EG_s3', status: 'EGRESS_COMPLETE', startedAt: '1765184000000000000', endedAt: '1765184060000000000',
          fileResults: [{ filename: 'composite.mp4', location: 'https://s3.example.vn/b/EG_s3/composite.mp4?X-Amz-Signature=x' }] },
        { egressId: 'EG_bad', status: 'EGRESS_FAILED', startedAt: '1765184000000000000', error: 'ffmpeg' },
        { status: 'EGRESS_COMPLETE' },
      ],
    });
    expect(list.map((r) => [r.id, r.status])).toEqual([
      ['EG_new', 'active'],
      ['EG_old', 'complete'],
      ['EG_s3', 'complete'],
      ['EG_bad', 'failed'],
    ]);
    expect(list[1].files).toEqual([{ name: 'composite.mp4', link: undefined, size: 1234 }]);
    expect(list[2].files[0].link).toContain('X-Amz-Signature');
    expect(parseRecordings({})).toEqual([]);
    expect(parseRecordings(null)).toEqual([]);
  });

  it('says when and how long', () => {
    const start = new Date(2026, 11, 8, 9, 5).getTime();
    const r = { id: 'EG_x', status: 'complete' as const, startedAt: start, endedAt: start + 3_725_000, files: [] };
    expect(recordedWhen(r, 0)).toEqual({ date: '08/12/2026', time: '09:05', length: '1:02:05' });
    expect(recordedWhen({ ...r, endedAt: 0 }, start + 65_000).length).toBe('1:05');
  });
});
