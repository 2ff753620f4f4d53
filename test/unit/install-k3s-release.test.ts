import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EdgeboxError } from '../../src/diagnostics/diagnostic.js';
import { checkReleaseVersion, digestOf, k3sRelease } from '../../src/install/k3s-release.js';
import { LocalDigests } from '../../src/install/local-digests.js';

const V = 'v1.32.5+k3s1';
const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const AMD = Buffer.from('the amd64 binary');
const ARM = Buffer.from('the arm64 binary');

describe('the release sums file', () => {
  it("gives the digest of the file named, in sha256sum's text and binary forms", () => {
    const sums = `${'a'.repeat(64)}  k3s-airgap-images-amd64.tar.zst\n${'b'.repeat(64)}  k3s\n${'c'.repeat(64)} *k3s-arm64\n`;
    expect(digestOf(sums, 'k3s')).toBe('b'.repeat(64));
    expect(digestOf(sums, 'k3s-arm64')).toBe('c'.repeat(64));
    expect(digestOf(sums, 'k3s-armhf')).toBeUndefined();
    expect(digestOf('<html>not found</html>', 'k3s')).toBeUndefined();
  });

  it.each(['v1.32.5+k3s1', 'v1.33.0+k3s2'])('takes the tag %s', (v) => expect(() => checkReleaseVersion(v)).not.toThrow());
  it.each(['1.32.5', 'v1.32.5', 'latest', 'v1.32.5+k3s1/../../x'])('refuses %s as input (exit 2)', (v) => {
    try {
      checkReleaseVersion(v);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(EdgeboxError);
      expect((e as EdgeboxError).kind).toBe('input');
      expect((e as EdgeboxError).diagnostics[0]?.code).toBe('install.k3s-version');
    }
  });
});

describe('downloading a K3s release from a mirror on 127.0.0.1', () => {
  const files: Record<string, Buffer> = {};
  const requests: string[] = [];
  let server: Server;
  let url: string;
  let cache: string;
  const progress: string[] = [];
  const get = async (archs: ('amd64' | 'arm64')[], version = V) =>
    k3sRelease({ version, archs, cache, digests: await LocalDigests.open(cache), baseUrl: url, progress: (l) => progress.push(l) });

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push(decodeURIComponent(req.url ?? ''));
      const body = files[decodeURIComponent((req.url ?? '').slice(1))];
      res.writeHead(body ? 200 : 404).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(async () => {
    cache = await mkdtemp(join(tmpdir(), 'edgebox-k3s-release-'));
    requests.length = 0;
    files[`${V}/k3s`] = AMD;
    files[`${V}/k3s-arm64`] = ARM;
    files[`${V}/sha256sum-amd64.txt`] = Buffer.from(`${hex(AMD)}  k3s\n`);
    files[`${V}/sha256sum-arm64.txt`] = Buffer.from(`${hex(ARM)}  k3s-arm64\n`);
    return () => rm(cache, { recursive: true, force: true });
  });

  it('gets the sums, then each binary, checks it, and keeps both executable in the cache; a second call fetches nothing', async () => {
    const got = await get(['amd64', 'arm64']);
    expect(got).toEqual([
      { path: join(cache, 'k3s-releases', V, 'k3s'), sha256: hex(AMD) },
      { path: join(cache, 'k3s-releases', V, 'k3s-arm64'), sha256: hex(ARM) },
    ]);
    expect(requests).toEqual([`/${V}/sha256sum-amd64.txt`, `/${V}/k3s`, `/${V}/sha256sum-arm64.txt`, `/${V}/k3s-arm64`]);
    expect(await readFile(got[0]!.path)).toEqual(AMD);
    expect((await stat(got[0]!.path)).mode & 0o777).toBe(0o755);
    expect(await get(['amd64', 'arm64'])).toEqual(got);
    expect(requests).toHaveLength(4);
  });

  it('fetches anew a cached binary that no longer matches its sums (cut short, altered)', async () => {
    const [first] = await get(['amd64']);
    await writeFile(first!.path, 'truncat');
    expect(await get(['amd64'])).toEqual([first]);
    expect(await readFile(first!.path)).toEqual(AMD);
    expect(requests).toHaveLength(4);
  });

  it('refuses a binary whose digest is not the one its sums give, and keeps nothing', async () => {
    files[`${V}/k3s`] = Buffer.from('something else');
    const e = await get(['amd64']).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EdgeboxError);
    expect((e as EdgeboxError).kind).toBe('failure');
    expect((e as EdgeboxError).diagnostics[0]?.message).toMatch(new RegExp(`has sha256 ${hex(Buffer.from('something else'))}, not ${hex(AMD)}`));
    expect(await readdir(join(cache, 'k3s-releases', V))).toEqual([]);
  });

  it('says a version the mirror does not have is wrong input (exit 2), naming the address', async () => {
    const e = (await get(['amd64'], 'v1.99.0+k3s1').catch((x: unknown) => x)) as EdgeboxError;
    expect(e.kind).toBe('input');
    expect(e.diagnostics[0]).toMatchObject({ code: 'install.k3s-version' });
    expect(e.diagnostics[0]?.message).toContain(`${url}v1.99.0%2Bk3s1/sha256sum-amd64.txt does not exist`);
  });

  it('says a sums file without the binary is a mirror not laid out as K3s releases', async () => {
    files[`${V}/sha256sum-amd64.txt`] = Buffer.from(`${hex(AMD)}  k3s-airgap-images-amd64.tar\n`);
    const e = (await get(['amd64']).catch((x: unknown) => x)) as EdgeboxError;
    expect(e.diagnostics[0]).toMatchObject({ code: 'install.k3s-download' });
    expect(e.diagnostics[0]?.message).toContain('gives no sha256 for k3s');
  });

  it('names the address it could not reach', async () => {
    const digests = await LocalDigests.open(cache);
    const e = (await k3sRelease({ version: V, archs: ['amd64'], cache, digests, baseUrl: 'http://127.0.0.1:1', progress: () => undefined }).catch(
      (x: unknown) => x,
    )) as EdgeboxError;
    expect(e.diagnostics[0]).toMatchObject({ code: 'install.k3s-download' });
    expect(e.diagnostics[0]?.message).toContain('cannot fetch http://127.0.0.1:1/');
  });
});
