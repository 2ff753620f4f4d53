import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { failure } from '../diagnostics/diagnostic.js';
import { SERVICE_IP } from './process-plan.js';
import { LOOPBACK } from './ports.js';
import { boxPki } from './server-layout.js';

/**
 * The box CA and the one serving certificate every API server of the box shares, so a client
 * that trusts the CA (the kubeconfig) can talk to whichever server the API address forwards it
 * to. Made with openssl (Node's crypto signs no certificates); ECDSA P-256, quick to generate.
 */

/** The serving certificate's names: the API address, every module address (any may become a server), and the in-cluster ones. */
export function servingNames(moduleAddresses: readonly string[]): string {
  const ips = [LOOPBACK, ...moduleAddresses, SERVICE_IP];
  const dns = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];
  return [...ips.map((ip) => `IP:${ip}`), ...dns.map((d) => `DNS:${d}`)].join(',');
}

function openssl(args: string[]): Promise<void> {
  return new Promise((done, fail) => {
    execFile('openssl', args, (err, _stdout, stderr) => {
      if (!err) return done();
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return fail(
          failure('local.openssl-missing', 'openssl is not installed; the local box makes its CA with it', 'install it, e.g. `apt-get install -y openssl`'),
        );
      }
      fail(failure('local.openssl-failed', `openssl ${args[0]} failed: ${stderr.trim() || err.message}`, 'check the openssl installation'));
    });
  });
}

export async function writeBoxCa(dir: string, box: string, moduleAddresses: readonly string[]): Promise<void> {
  const pki = boxPki(dir);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(['req', '-x509', ...ec, '-keyout', pki.caKey, '-out', pki.ca, '-days', '3650', '-subj', `/CN=edgebox-${box}-ca`]);
  const csr = `${pki.servingCert}.csr`;
  const ext = `${pki.servingCert}.ext`;
  await openssl(['req', '-new', ...ec, '-keyout', pki.servingKey, '-out', csr, '-subj', '/CN=kube-apiserver']);
  await writeFile(
    ext,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=${servingNames(moduleAddresses)}`,
      '',
    ].join('\n'),
  );
  await openssl(['x509', '-req', '-in', csr, '-CA', pki.ca, '-CAkey', pki.caKey, '-CAcreateserial', '-out', pki.servingCert, '-days', '3650', '-extfile', ext]);
  await Promise.all([csr, ext].map((f) => rm(f, { force: true })));
}
