// HTTPS material: the certificate and key files (and, with --authentication=tls, the CA file that
// client certificates are verified against), checked at start and reloaded when they change
// (rotation without a restart). Files that do not load (half-written, a key that does not match,
// a CA file without certificates) are reported and the server keeps the previous material.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { ServerStartError } from './errors.js';
import type { JsonLogger } from './log.js';
import type { ServerMetrics } from './metrics.js';
import { pollFiles, type FilePoller } from './watch.js';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** CAs for client certificates (--tls-ca-cert-file), with --authentication=tls. */
  ca?: Buffer;
}

export const MIN_TLS_VERSION = 'TLSv1.2';

/** Reads and checks the files; throws an Error that names the file and the problem. */
export function loadTlsMaterial(certFile: string, keyFile: string, caFile?: string): TlsMaterial {
  const read = (file: string, flag: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new ServerStartError(`cannot read ${flag} ${file}: ${(e as Error).message}`);
    }
  };
  const m: TlsMaterial = { cert: read(certFile, '--tls-cert-file'), key: read(keyFile, '--tls-private-key-file') };
  if (caFile) m.ca = read(caFile, '--tls-ca-cert-file');
  checkMaterial(m, certFile, keyFile, caFile);
  return m;
}

function checkMaterial(m: TlsMaterial, certFile: string, keyFile: string, caFile: string | undefined): void {
  try {
    createSecureContext({ cert: m.cert, key: m.key });
  } catch (e) {
    throw new ServerStartError(`cannot use certificate ${certFile} with key ${keyFile}: ${(e as Error).message}`);
  }
  if (m.ca && caFile) {
    // createSecureContext skips PEM blocks it cannot use, so an empty or garbled file would
    // silently accept no client at all: count the certificates ourselves.
    let count = 0;
    try {
      for (const pem of m.ca.toString('latin1').match(PEM_CERTIFICATE) ?? []) {
        new X509Certificate(pem);
        count++;
      }
    } catch (e) {
      throw new ServerStartError(`cannot use --tls-ca-cert-file ${caFile}: ${(e as Error).message}`);
    }
    if (count === 0) throw new ServerStartError(`--tls-ca-cert-file ${caFile} holds no PEM certificate`);
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/** The options of the server's secure context. */
export function secureContextOptions(m: TlsMaterial): SecureContextOptions {
  return m.ca ? { cert: m.cert, key: m.key, ca: m.ca, minVersion: MIN_TLS_VERSION } : { cert: m.cert, key: m.key, minVersion: MIN_TLS_VERSION };
}

/** Polls the files and swaps the server's secure context when they all load; new connections see it. */
export function watchCertificates(
  server: HttpsServer,
  files: { certFile: string; keyFile: string; caFile?: string },
  initial: TlsMaterial,
  intervalMs: number,
  logger: JsonLogger,
  metrics: ServerMetrics,
): FilePoller {
  const { certFile, keyFile, caFile } = files;
  return pollFiles(
    caFile ? [certFile, keyFile, caFile] : [certFile, keyFile],
    intervalMs,
    ([cert, key, ca]) => {
      try {
        const m: TlsMaterial = { cert, key, ca };
        checkMaterial(m, certFile, keyFile, caFile);
        server.setSecureContext(secureContextOptions(m));
      } catch (e) {
        metrics.certReloads.inc({ outcome: 'error' });
        logger.error('TLS certificate reload failed; still serving the previous certificate', { error: (e as Error).message });
        return;
      }
      metrics.certReloads.inc({ outcome: 'ok' });
      logger.info('TLS certificate reloaded', { cert_file: certFile, key_file: keyFile, ...(caFile ? { ca_file: caFile } : {}) });
    },
    (e) => logger.warn('cannot read TLS files; still serving the previous certificate', { error: e.message }),
    initial.ca ? [initial.cert, initial.key, initial.ca] : [initial.cert, initial.key],
  );
}
