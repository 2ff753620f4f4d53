import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { moduleCgroupPath, cgroup2Mount, ownCgroup } from '../../src/local/module-cgroup.js';
import { podStartRange } from '../../src/cli/commands/local.js';
import { DEFAULT_POD_START, withPodStart } from '../../src/local/kwok-stages.js';
import { offsetText } from '../../src/local/module-clock.js';
import { apiLosers, cutComment, cutRules, cutsIn, partitionCuts, type Cut, type CutContext } from '../../src/local/partition.js';

const ctx: CutContext = {
  cgroupOf: (m) => `/edgebox-abc/${m}`,
  addressOf: (m) => `127.0.1.${m.slice(1)}`,
  apiPort: 36443,
};

describe('local box: network cuts as firewall rules', () => {
  it("a cut drops the packets of one module's cgroup to the other's address, whatever the protocol", () => {
    expect(cutRules({ kind: 'cut', from: 'm1', to: 'm2' }, ctx)).toEqual([
      ['-m', 'cgroup', '--path', '/edgebox-abc/m1', '-d', '127.0.1.2', '-m', 'comment', '--comment', 'edgebox:cut:m1:m2', '-j', 'DROP'],
    ]);
  });

  it("isolation drops the module's packets to anyone but itself, and anyone else's to it", () => {
    expect(cutRules({ kind: 'isolate', module: 'm2' }, ctx)).toEqual([
      ['-m', 'cgroup', '--path', '/edgebox-abc/m2', '!', '-d', '127.0.1.2', '-m', 'comment', '--comment', 'edgebox:isolate:m2', '-j', 'DROP'],
      ['-d', '127.0.1.2', '-m', 'cgroup', '!', '--path', '/edgebox-abc/m2', '-m', 'comment', '--comment', 'edgebox:isolate:m2', '-j', 'DROP'],
    ]);
  });

  it("losing the API drops the module's connections to the box's API address only", () => {
    expect(cutRules({ kind: 'no-api', module: 'm3' }, ctx)).toEqual([
      [
        '-m',
        'cgroup',
        '--path',
        '/edgebox-abc/m3',
        '-d',
        '127.0.0.1',
        '-p',
        'tcp',
        '--dport',
        '36443',
        '-m',
        'comment',
        '--comment',
        'edgebox:no-api:m3',
        '-j',
        'DROP',
      ],
    ]);
  });

  it.each([
    ['quoted', '"'],
    ['unquoted', ''],
  ])('reads the cuts back from `iptables -S <chain>` (%s comments), each once', (_name, q) => {
    const listing = [
      '-N edgebox-abc',
      `-A edgebox-abc -d 127.0.1.2/32 -m cgroup --path /edgebox-abc/m1 -m comment --comment ${q}edgebox:cut:m1:m2${q} -j DROP`,
      `-A edgebox-abc ! -d 127.0.1.2/32 -m cgroup --path /edgebox-abc/m2 -m comment --comment ${q}edgebox:isolate:m2${q} -j DROP`,
      `-A edgebox-abc -d 127.0.1.2/32 -m cgroup ! --path /edgebox-abc/m2 -m comment --comment ${q}edgebox:isolate:m2${q} -j DROP`,
      `-A edgebox-abc -d 127.0.0.1/32 -p tcp -m cgroup --path /edgebox-abc/m3 -m tcp --dport 36443 -m comment --comment ${q}edgebox:no-api:m3${q} -j DROP`,
      '-A edgebox-abc -p tcp --dport 22 -j ACCEPT',
    ].join('\n');
    expect(cutsIn(listing)).toEqual([
      { kind: 'cut', from: 'm1', to: 'm2' },
      { kind: 'isolate', module: 'm2' },
      { kind: 'no-api', module: 'm3' },
    ]);
  });

  it('every cut survives the round trip through its comment', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);
    const cut: fc.Arbitrary<Cut> = fc.oneof(
      fc.record({ kind: fc.constant('cut' as const), from: name, to: name }),
      fc.record({ kind: fc.constantFrom('isolate' as const, 'no-api' as const), module: name }),
    );
    fc.assert(
      fc.property(cut, (c) => {
        expect(cutsIn(`-A x -m comment --comment "${cutComment(c)}" -j DROP`)).toEqual([c]);
      }),
    );
  });

  it('a partition is both directions between every pair across it; one way only the first side sends nothing', () => {
    expect(partitionCuts(['a'], ['b', 'c'])).toEqual([
      { kind: 'cut', from: 'a', to: 'b' },
      { kind: 'cut', from: 'b', to: 'a' },
      { kind: 'cut', from: 'a', to: 'c' },
      { kind: 'cut', from: 'c', to: 'a' },
    ]);
    expect(partitionCuts(['a'], ['b'], true)).toEqual([{ kind: 'cut', from: 'a', to: 'b' }]);
  });
});

describe('local box: who loses the API under a partition', () => {
  const modules = ['s1', 's2', 's3', 'a1', 'a2'];
  const members = ['s1', 's2', 's3'];

  it.each<[string, Cut[], string[]]>([
    ['nothing cut', [], []],
    ['a minority of one server: it alone', partitionCuts(['s1'], ['s2', 's3', 'a1', 'a2']), ['s1']],
    ['an agent module cut off from everyone', partitionCuts(['a1'], ['s1', 's2', 's3', 'a2']), ['a1']],
    ['an agent with one server, from the rest', partitionCuts(['a1', 's1'], ['s2', 's3', 'a2']), ['s1', 'a1']],
    ['an agent with two servers: they keep it', partitionCuts(['a1', 's1', 's2'], ['s3', 'a2']), ['s3', 'a2']],
    [
      'servers split three ways: no quorum anywhere, every module loses it',
      [...partitionCuts(['s1'], ['s2', 's3']), ...partitionCuts(['s2'], ['s3'])],
      modules,
    ],
    ['two servers cut from each other, the third reaching both: those two keep it through their quorum with it', partitionCuts(['s1'], ['s2']), []],
    [
      'an agent that reaches only the server cut off from the quorum',
      [...partitionCuts(['s1'], ['s2', 's3']), ...partitionCuts(['a1'], ['s2', 's3'])],
      ['s1', 'a1'],
    ],
    ['one way is enough to lose a member (TCP needs both)', partitionCuts(['s1'], ['s2', 's3'], true), ['s1']],
    ['an isolated module', [{ kind: 'isolate', module: 'a2' }], ['a2']],
  ])('%s', (_name, cuts, losers) => {
    expect(apiLosers(modules, members, cuts).sort()).toEqual([...losers].sort());
  });

  it('with no member on a module (a single control plane), only an isolated module loses it', () => {
    expect(apiLosers(modules, [], partitionCuts(['s1'], ['s2']))).toEqual([]);
    expect(apiLosers(modules, [], [{ kind: 'isolate', module: 'a1' }])).toEqual(['a1']);
  });

  it('a side holding a majority of the members never loses the API; the other side always does', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }), (sides) => {
        const left = modules.filter((_, i) => sides[i]);
        const right = modules.filter((_, i) => !sides[i]);
        fc.pre(left.length > 0 && right.length > 0);
        const losers = new Set(apiLosers(modules, members, partitionCuts(left, right)));
        const majority = members.filter((m) => left.includes(m)).length * 2 > members.length ? left : right;
        for (const m of modules) expect(losers.has(m)).toBe(!majority.includes(m));
      }),
    );
  });
});

describe('local box: module cgroups', () => {
  it('finds the cgroup v2 mount of a hybrid and of a unified host', () => {
    expect(cgroup2Mount('cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw 0 0')).toBe('/sys/fs/cgroup/unified');
    expect(cgroup2Mount('cgroup2 /sys/fs/cgroup cgroup2 rw 0 0')).toBe('/sys/fs/cgroup');
    expect(cgroup2Mount('cgroup /sys/fs/cgroup/cpu cgroup rw 0 0')).toBeUndefined();
  });

  it("puts a box's modules under the cgroup of whoever runs it", () => {
    expect(ownCgroup('1:cpu:/x\n0::/ci/job-7\n')).toBe('/ci/job-7');
    expect(ownCgroup('0::/\n')).toBe('/');
    expect(moduleCgroupPath('/', '/b', 'm1')).toMatch(/^\/edgebox-[0-9a-f]{12}\/m1$/);
    expect(moduleCgroupPath('/ci/job-7', '/b', 'm1')).toMatch(/^\/ci\/job-7\/edgebox-[0-9a-f]{12}\/m1$/);
  });
});

describe('local box: pod start delay and module clocks', () => {
  const stages = [
    'apiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: pod-create\nspec:\n  next:\n    x: 1',
    'apiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: pod-ready\nspec:\n  resourceRef:\n    kind: Pod\n  next:\n    statusTemplate: y',
  ].join('\n---\n');

  it("delays KWOK's pod-ready stage by a draw between the two ends, and no other stage", () => {
    const out = withPodStart(stages, { minMs: 1000, maxMs: 3000 });
    const [create, ready] = out.split('\n---\n');
    expect(create).toBe(stages.split('\n---\n')[0]);
    expect(ready).toContain('  delay:\n    durationMilliseconds: 1000\n    jitterDurationMilliseconds: 3000\n  next:\n');
    expect(withPodStart(stages, { minMs: 0, maxMs: 0 })).toBe(stages);
  });

  it('refuses stages whose pod-ready it cannot delay (a kwok upgrade changed them)', () => {
    expect(() => withPodStart(stages.replace('name: pod-ready', 'name: pod-running'), DEFAULT_POD_START)).toThrow(/pod-ready/);
  });

  it.each([
    ['1s-3s', { minMs: 1000, maxMs: 3000 }],
    ['500ms-2s', { minMs: 500, maxMs: 2000 }],
    ['0', { minMs: 0, maxMs: 0 }],
  ])('--pod-start %s', (text, range) => {
    expect(podStartRange(text)).toEqual(range);
  });

  it.each(['3s-1s', '1-3', 'fast', '1s-3s-5s', '1s-20m'])('--pod-start %s is bad input', (text) => {
    expect(() => podStartRange(text)).toThrow(/--pod-start/);
  });

  it.each([
    [0, '+0.000'],
    [-20_500, '-20.500'],
    [600_000, '+600.000'],
  ])('an offset of %d ms is written as libfaketime reads it: %s', (ms, text) => {
    expect(offsetText(ms)).toBe(text);
  });
});
