import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { HealthCheck } from './components.js';

/**
 * Whether a component's health endpoint answers 200. TLS is verified against the certificate the
 * component wrote (it is self-signed for 127.0.0.1); until that file exists the answer is no.
 */
export async function healthy(check: HealthCheck, token: string): Promise<boolean> {
  let ca: Buffer | undefined;
  if (check.caFile) {
    try {
      ca = await readFile(check.caFile);
    } catch {
      return false;
    }
  }
  const url = new URL(check.url);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        method: 'GET',
        timeout: 3000,
        ...(ca ? { ca } : {}),
        headers: check.auth ? { authorization: `Bearer ${token}` } : {},
      },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
