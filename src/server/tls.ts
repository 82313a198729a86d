// HTTPS material: the certificate and key files, checked at start and reloaded when they change
// (certificate rotation without a restart). A pair that does not load (a half-written file, a
// key that does not match) is reported and the server keeps serving the previous certificate.
import { readFileSync } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import { createSecureContext } from 'node:tls';
import { ServerStartError } from './errors.js';
import type { JsonLogger } from './log.js';
import type { ServerMetrics } from './metrics.js';
import { pollFiles, type FilePoller } from './watch.js';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

export const MIN_TLS_VERSION = 'TLSv1.2';

/** Reads and checks the pair; throws an Error that names the file and the problem. */
export function loadTlsMaterial(certFile: string, keyFile: string): TlsMaterial {
  const read = (file: string, flag: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new ServerStartError(`cannot read ${flag} ${file}: ${(e as Error).message}`);
    }
  };
  const m = { cert: read(certFile, '--tls-cert-file'), key: read(keyFile, '--tls-private-key-file') };
  checkPair(m, certFile, keyFile);
  return m;
}

function checkPair(m: TlsMaterial, certFile: string, keyFile: string): void {
  try {
    createSecureContext({ cert: m.cert, key: m.key });
  } catch (e) {
    throw new ServerStartError(`cannot use certificate ${certFile} with key ${keyFile}: ${(e as Error).message}`);
  }
}

/** Polls the files and swaps the server's certificate when both load; new connections see it. */
export function watchCertificates(
  server: HttpsServer,
  certFile: string,
  keyFile: string,
  initial: TlsMaterial,
  intervalMs: number,
  logger: JsonLogger,
  metrics: ServerMetrics,
): FilePoller {
  return pollFiles(
    [certFile, keyFile],
    intervalMs,
    ([cert, key]) => {
      try {
        checkPair({ cert, key }, certFile, keyFile);
        server.setSecureContext({ cert, key, minVersion: MIN_TLS_VERSION });
      } catch (e) {
        metrics.certReloads.inc({ outcome: 'error' });
        logger.error('TLS certificate reload failed; still serving the previous certificate', { error: (e as Error).message });
        return;
      }
      metrics.certReloads.inc({ outcome: 'ok' });
      logger.info('TLS certificate reloaded', { cert_file: certFile, key_file: keyFile });
    },
    (e) => logger.warn('cannot read TLS files; still serving the previous certificate', { error: e.message }),
    [initial.cert, initial.key],
  );
}
