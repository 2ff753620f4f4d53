import { createServer, type AddressInfo, type Server } from 'node:net';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { Client, type ConnectConfig } from 'ssh2';
import { withTimeout } from '../base/timeout.js';

/**
 * One SSH connection to a module, the only way `edgebox install` touches it (src/install is the
 * one seam: the planner never sees a socket). Commands run through `sh -c` as root: directly
 * when the login user is root, else through `sudo -n` (never a password prompt: a user whose sudo
 * asks for one is refused once, at connect, with what to add to sudoers). Secrets and file contents go over SFTP or a command's stdin, never on a command line, so they
 * never show in the module's process list or a log.
 */
export interface SshSession {
  readonly module: string;
  readonly address: string;
  /** Runs `command` (a shell line) to its end; never throws for a non-zero exit. */
  exec(command: string, o?: { stdin?: string | Buffer | Readable; timeoutMs?: number }): Promise<ExecResult>;
  /** Writes `data` to `path` atomically (a temporary file beside it, then rename), with `mode`. */
  writeFile(path: string, data: Buffer | string, mode: number): Promise<void>;
  /** Copies a file of this machine to `path`, as writeFile does, streamed (a K3s binary is 70-220 MB). */
  upload(localPath: string, path: string, mode: number): Promise<void>;
  /** Reads a file; undefined when it does not exist. */
  readFile(path: string): Promise<Buffer | undefined>;
  /** A port on 127.0.0.1 of this machine that reaches `port` on the module's own loopback (one per port, kept until close). */
  forward(port: number): Promise<number>;
  close(): void;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface SshTarget {
  module: string;
  address: string;
  port?: number;
  user: string;
  keyPath: string;
  /** Per connection attempt. Default 10 s. */
  timeoutMs?: number;
}

/** Why a connection failed, for preflight's located error. */
export type ConnectFailure = { kind: 'auth' | 'unreachable' | 'timeout' | 'key' | 'sudo'; message: string };

export class SshConnectError extends Error {
  constructor(readonly failure: ConnectFailure) {
    super(failure.message);
  }
}

const EXEC_TIMEOUT_MS = 120_000;
const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export async function connect(t: SshTarget): Promise<SshSession> {
  let privateKey: Buffer;
  try {
    privateKey = await readFile(t.keyPath);
  } catch (e) {
    throw new SshConnectError({ kind: 'key', message: `cannot read the SSH key ${t.keyPath}: ${(e as Error).message}` });
  }
  const client = new Client();
  const timeoutMs = t.timeoutMs ?? 10_000;
  const config: ConnectConfig = {
    host: t.address,
    port: t.port ?? 22,
    username: t.user,
    privateKey,
    readyTimeout: timeoutMs,
    // A module that stops answering mid-install (power cut, reboot) is noticed in 15 s, not at the TCP timeout.
    keepaliveInterval: 5000,
    keepaliveCountMax: 3,
  };
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', (e: Error & { level?: string; code?: string }) => {
      const where = `${t.user}@${t.address}:${t.port ?? 22}`;
      if (e.level === 'client-authentication') reject(new SshConnectError({ kind: 'auth', message: `${where} refused the key ${t.keyPath}` }));
      else if (e.level === 'client-timeout' || /timed out/i.test(e.message))
        reject(new SshConnectError({ kind: 'timeout', message: `${where} gave no SSH answer within ${timeoutMs / 1000} s` }));
      else if (/private key|parse/i.test(e.message))
        reject(new SshConnectError({ kind: 'key', message: `the SSH key ${t.keyPath} cannot be used: ${e.message}` }));
      else reject(new SshConnectError({ kind: 'unreachable', message: `cannot reach ${where}: ${e.code ?? e.message}` }));
    });
    client.connect(config);
  });
  // An error after the handshake (connection reset) is seen by the pending exec or sftp call.
  client.on('error', () => undefined);
  const forwards = new Map<number, { server: Server; port: number }>();
  // `-n`: sudo fails rather than waits for a password nobody will type.
  const asRoot = t.user === 'root' ? '' : 'sudo -n ';

  function exec(command: string, o: { stdin?: string | Buffer | Readable; timeoutMs?: number } = {}): Promise<ExecResult> {
    const run = new Promise<ExecResult>((resolve, reject) => {
      client.exec(`${asRoot}sh -c ${quote(command)}`, (err, stream) => {
        if (err) return reject(err);
        const out: Buffer[] = [];
        const errs: Buffer[] = [];
        stream.on('data', (d: Buffer) => out.push(d));
        stream.stderr.on('data', (d: Buffer) => errs.push(d));
        stream.on('close', (code: number | null, signal?: string) =>
          resolve({
            code: code ?? (signal ? 128 : 255),
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(errs).toString('utf8'),
          }),
        );
        if (o.stdin && typeof o.stdin === 'object' && 'pipe' in o.stdin) {
          o.stdin.on('error', (e) => {
            stream.close();
            reject(e);
          });
          o.stdin.pipe(stream);
        } else stream.end(o.stdin ?? '');
      });
    });
    return withTimeout(run, o.timeoutMs ?? EXEC_TIMEOUT_MS, `${t.module}: ${command.split('\n')[0]!.slice(0, 80)}`);
  }

  async function writeFile(path: string, data: Buffer | string | Readable, mode: number): Promise<void> {
    // cat through stdin, then chmod before the rename: the file never exists at `path` with another
    // mode or half written (a token readable by others, a binary cut short by a dropped link).
    const tmp = `${path}.edgebox-tmp`;
    const dir = path.slice(0, path.lastIndexOf('/')) || '/';
    const r = await exec(
      `set -e; mkdir -p ${quote(dir)}; umask 077; cat > ${quote(tmp)}; chmod ${mode.toString(8)} ${quote(tmp)}; mv -f ${quote(tmp)} ${quote(path)}`,
      { stdin: typeof data === 'string' ? Buffer.from(data) : data, timeoutMs: 900_000 },
    );
    if (r.code !== 0) throw new Error(`writing ${path} on ${t.module} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
  }

  async function readRemote(path: string): Promise<Buffer | undefined> {
    const r = await new Promise<{ code: number; data: Buffer }>((resolve, reject) => {
      client.exec(`${asRoot}cat ${quote(path)}`, (err, stream) => {
        if (err) return reject(err);
        const out: Buffer[] = [];
        stream.on('data', (d: Buffer) => out.push(d));
        stream.stderr.resume();
        stream.on('close', (code: number | null) => resolve({ code: code ?? 255, data: Buffer.concat(out) }));
      });
    });
    return r.code === 0 ? r.data : undefined;
  }

  async function forward(port: number): Promise<number> {
    const known = forwards.get(port);
    if (known) return known.port;
    const server = createServer((socket) => {
      client.forwardOut('127.0.0.1', 0, '127.0.0.1', port, (err, channel) => {
        if (err) return socket.destroy();
        socket.pipe(channel).pipe(socket);
        socket.on('error', () => channel.close());
        channel.on('error', () => socket.destroy());
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const local = (server.address() as AddressInfo).port;
    forwards.set(port, { server, port: local });
    return local;
  }

  if (asRoot) {
    const r = await exec('true', { timeoutMs: timeoutMs }).catch((e: Error) => ({ code: 255, stdout: '', stderr: e.message }));
    if (r.code !== 0) {
      client.end();
      throw new SshConnectError({
        kind: 'sudo',
        message: `${t.user}@${t.address} cannot run commands as root through sudo without a password: ${r.stderr.trim().split('\n')[0] || `exit ${r.code}`}`,
      });
    }
  }

  return {
    module: t.module,
    address: t.address,
    exec,
    writeFile,
    upload: (localPath, path, mode) => writeFile(path, createReadStream(localPath), mode),
    readFile: readRemote,
    forward,
    close: () => {
      for (const f of forwards.values()) f.server.close();
      client.end();
    },
  };
}
