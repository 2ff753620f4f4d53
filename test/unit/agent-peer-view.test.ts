import { describe, expect, it } from 'vitest';
import { parsePeerView } from '../../src/contract/peer-view.js';

describe('parsePeerView: the one reader of an agent Lease view', () => {
  it.each([
    ['no annotation', undefined, {}],
    ['not JSON', '{reachable', {}],
    ['JSON that is no object', '[1, 2]', {}],
    [
      'a well-formed view',
      '{"m2":{"reachable":false,"lastSeen":"2026-11-24T10:00:00.000Z","suspicion":6.5}}',
      { m2: { reachable: false, lastSeen: '2026-11-24T10:00:00.000Z', suspicion: 6.5 } },
    ],
    [
      'an entry without a boolean reachable witnesses nothing',
      '{"m2":{"reachable":"no"},"m3":null,"m4":{"reachable":true}}',
      { m4: { reachable: true, lastSeen: null, suspicion: 0 } },
    ],
    [
      'odd field types fall back to their defaults',
      '{"m2":{"reachable":true,"lastSeen":17,"suspicion":"high"}}',
      { m2: { reachable: true, lastSeen: null, suspicion: 0 } },
    ],
  ])('%s', (_name, annotation, view) => {
    expect(parsePeerView(annotation)).toEqual(view);
  });
});
