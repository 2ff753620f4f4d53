import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { failure } from '../diagnostics/diagnostic.js';

const run = promisify(execFile);

const GO_HINT =
  'install Go >= 1.26 from https://go.dev/dl/ and put its bin directory on PATH ' + "(Debian's golang-go package is too old: 1.19 on bookworm, 1.24 on trixie)";

/**
 * The environment every go command runs with. GOTOOLCHAIN=local: never download another Go
 * behind the user's back. CGO_ENABLED=0: static binaries, no C compiler needed.
 * GOFLAGS=-mod=readonly: the tool modules' go.sum is complete, so nothing may rewrite it (and the
 * package may sit in a read-only node_modules); it also replaces any GOFLAGS of the user's
 * (a -mod=vendor there would break the build). GOSUMDB stays as the user has it: with a complete
 * go.sum the checksum database is never consulted (checked with an empty module cache).
 */
function goEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOFLAGS: '-mod=readonly -buildvcs=false' };
}

/**
 * Runs `go <args>` in a tool module; a failure carries the tail of go's output. `env` overrides
 * the defaults above (K3s is built with CGO, from its own go.mod).
 */
export async function goRun(args: string[], cwd: string, env: Record<string, string> = {}): Promise<string> {
  try {
    const { stdout } = await run('go', args, { cwd, env: { ...goEnv(), ...env }, maxBuffer: 64 * 2 ** 20 });
    return stdout;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw failure('local.go-missing', 'Go is not installed (no `go` on PATH)', GO_HINT);
    const tail = (err.stderr ?? err.message).trim().split('\n').slice(-15).join('\n');
    throw failure(
      'local.go-failed',
      `go ${args.join(' ')} failed in ${cwd}:\n${tail}`,
      'check the network (the Go module proxy must be reachable for the first build) and the disk space; re-run `edgebox local setup`',
    );
  }
}

/** Checks Go is installed and at least the release the tool modules declare; returns e.g. `go1.26.8`. */
export async function checkGo(required: string): Promise<string> {
  // Outside any module: inside a tool module an old Go fails with a less helpful message.
  const out = await goRun(['env', 'GOVERSION'], tmpdir());
  const version = out.trim();
  if (compareVersions(version.replace(/^go/, ''), required) < 0) {
    throw failure('local.go-too-old', `${version} is too old: the tool modules need Go >= ${required}`, GO_HINT);
  }
  return version;
}

/** Numeric comparison of dotted versions; pre-release suffixes (`1.27rc1`) count as their base. */
function compareVersions(a: string, b: string): number {
  const parts = (v: string) => v.split('.').map((p) => parseInt(p, 10) || 0);
  const pa = parts(a);
  const pb = parts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
