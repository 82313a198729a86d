// `image-enforcer run --server`: the policy server. OPA's REST API over HTTP or HTTPS, with
// token or client certificate authentication, authorization by policy, body and evaluation
// limits, a decision log, Prometheus metrics, certificate rotation and graceful shutdown. The
// API itself is in api.ts.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, maxHeaderSize, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { BuiltinHooks } from '../rego/builtins/registry.js';
import type { Runtime, ReloadEvent } from '../runtime/runtime.js';
import { Api } from './api.js';
import { ClientCertAuthenticator, TokenAuthenticator, parseTokens, type Authenticator } from './auth.js';
import { declaredTooLarge } from './body.js';
import { Authorizer } from './authz.js';
import { DecisionLogger } from './decision-log.js';
import { DecisionLogPolicy } from './log-policy.js';
import { ServerStartError, type ApiErrorCode } from './errors.js';

export { ServerStartError } from './errors.js';
import { JsonLogger, type LineSink } from './log.js';
import { ServerMetrics } from './metrics.js';
import { splitPath } from './paths.js';
import { loadTlsMaterial, secureContextOptions, watchCertificates } from './tls.js';
import { pollFiles, type FilePoller } from './watch.js';

export interface ServerOptions {
  /** host:port; `:8181` listens on all interfaces, port 0 picks a free port. */
  addr: string;
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  authentication: 'off' | 'token' | 'tls';
  /** Accepted bearer tokens, one per line (with authentication 'token'). */
  tokenFile?: string;
  /** CAs that sign accepted client certificates, PEM (with authentication 'tls'). */
  tlsCaCertFile?: string;
  /** 'basic': data.system.authz.allow decides on every request but the open ones (authz.ts). */
  authorization?: 'off' | 'basic';
  maxBodyBytes: number;
  evalTimeoutMs: number;
  decisionLog: 'stdout' | 'stderr' | 'off';
  /** Run the layer sync in this process with this configuration file. */
  syncConfig?: string;
  /** Hosts http.send may reach; undefined disables network access from policies. */
  allowNet?: string[];
  /** POST /v1/admit: the answer when the policy cannot be evaluated ("deny"). */
  admissionFailureMode?: 'deny' | 'allow';
  /** POST /v1/admit: evaluation time limit; keep it below the webhook's timeoutSeconds (9000 ms). */
  admissionTimeoutMs?: number;

  // Less common knobs (defaults in parentheses); mostly for tests and embedding.
  /** host:port of the diagnostic address: /health and /metrics over HTTP without credentials (off). */
  diagnosticAddr?: string;
  /** Data path of `POST /` ("system/main"). */
  defaultDecision?: string;
  /** /v0/data paths whose bodies must be ImageReviews (["io/k8s/image_policy"]). */
  imageReviewPaths?: string[];
  /** How often certificate, key and token files are checked for changes (1000 ms). */
  fileCheckIntervalMs?: number;
  /** After this long, a graceful shutdown drops the connections still open (10000 ms). */
  shutdownTimeoutMs?: number;
  /**
   * How long a shutdown keeps serving before it stops accepting connections (0 ms). Kubernetes
   * takes the pod out of the Service while it sends SIGTERM, and clients keep reaching the pod
   * until that has spread; without a wait they would find the port closed.
   */
  shutdownWaitMs?: number;
  /** Where server log lines go (stderr). */
  logSink?: LineSink;
  /** Overrides `decisionLog` as the target of decision log lines. */
  decisionLogSink?: LineSink;
  /** Add Node's process metrics to /metrics (on for runServer). */
  processMetrics?: boolean;
}

export interface ServerHandle {
  /** Base URL, e.g. http://127.0.0.1:8181 */
  url: string;
  port: number;
  server: Server;
  metrics: ServerMetrics;
  logger: JsonLogger;
  /** Base URL of the diagnostic address (--diagnostic-addr), when there is one. */
  diagnosticUrl?: string;
  /** Re-reads certificate, key and token files now instead of at the next poll. */
  checkFiles(): Promise<void>;
  /** Graceful shutdown: stop accepting, finish in-flight requests, then resolve. */
  close(): Promise<void>;
}

/** How long an idle keep-alive connection is kept open (see createServer). */
export const KEEP_ALIVE_MS = 120_000;

/** Parses `host:port`, `:port` or `[v6]:port`. */
export function parseAddr(addr: string, flag = '--addr'): { host?: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new ServerStartError(`invalid ${flag} "${addr}": expected host:port, e.g. :8181 or 127.0.0.1:8181`);
  }
  const host = m[1] ?? m[2];
  return { host: host === '' ? undefined : host, port };
}

/** Listens; start-up errors (ServerStartError) name the address as the user gave it. */
export function listen(server: Server, host: string | undefined, port: number, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      reject(new ServerStartError(e.code === 'EADDRINUSE' ? `cannot listen on ${what}: the address is already in use` : `cannot listen on ${what}: ${e.message}`));
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** The URL clients use for a listening server: `localhost` for the wildcard addresses. */
function baseUrl(server: Server, host: string | undefined, scheme: 'http' | 'https'): string {
  const address = server.address() as AddressInfo;
  const shownHost = !host || host === '0.0.0.0' || host === '::' ? 'localhost' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${shownHost}:${address.port}`;
}

let cachedVersion: string | undefined;
/** The package version, for ?provenance and the decision log. */
export function packageVersion(): string {
  if (cachedVersion) return cachedVersion;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'image-enforcer' && pkg.version) return (cachedVersion = pkg.version);
    } catch {
      // keep looking upwards
    }
    dir = dirname(dir);
  }
  return (cachedVersion = 'dev');
}

function sinkFor(target: 'stdout' | 'stderr' | 'off'): LineSink | undefined {
  return target === 'stdout' ? process.stdout : target === 'stderr' ? process.stderr : undefined;
}

/** A complete HTTP response with OPA's error body, written straight to a socket (Connection: close). */
function rawAnswer(status: string, code: ApiErrorCode, message: string, o: { headers?: string; head?: boolean } = {}): string {
  const body = JSON.stringify({ code, message }, null, 2) + '\n';
  const head = `HTTP/1.1 ${status}\r\nConnection: close\r\n${o.headers ?? ''}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
  return o.head ? head : head + body; // the answer to HEAD has no body
}

type ClientError = NodeJS.ErrnoException & { rawPacket?: Buffer; bytesParsed?: number };

/** True when the request Node failed to parse is a HEAD (whose answer has no body). */
function failedOnHead(err: ClientError): boolean {
  const raw = err.rawPacket;
  if (!raw || raw.subarray(0, 5).toString('latin1') !== 'HEAD ') return false;
  // The packet may also hold pipelined requests: the failure must be in its first one.
  const end = raw.indexOf('\r\n\r\n');
  return end < 0 || (err.bytesParsed ?? 0) <= end + 4;
}

/** The answer to a request Node's HTTP parser refused (or that took too long to arrive). */
function clientErrorAnswer(err: ClientError, requestTimeoutMs: number): string {
  const head = failedOnHead(err);
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return rawAnswer(
        '431 Request Header Fields Too Large',
        'invalid_parameter',
        `the request line and headers are too large: the limit is ${maxHeaderSize} bytes (send large inputs in a POST body, not in the URL)`,
        { head },
      );
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return rawAnswer('408 Request Timeout', 'invalid_parameter', `the request did not arrive completely within ${requestTimeoutMs} ms`, { head });
    default:
      return rawAnswer('400 Bad Request', 'invalid_parameter', `malformed HTTP request: ${err.message}`, { head });
  }
}

/** Starts listening; resolves once the port is bound. Throws clear errors for bad options. */
export async function createServer(runtime: Runtime, opts: ServerOptions): Promise<ServerHandle> {
  const { host, port } = parseAddr(opts.addr);
  const diagnosticAt = opts.diagnosticAddr !== undefined ? parseAddr(opts.diagnosticAddr, '--diagnostic-addr') : undefined;
  if (!(opts.maxBodyBytes > 0)) throw new ServerStartError('the request body limit must be a positive number of bytes');
  if (!(opts.evalTimeoutMs > 0)) throw new ServerStartError('the evaluation time limit must be positive');
  const logger = new JsonLogger(opts.logSink ?? process.stderr);
  const metrics = new ServerMetrics({ processMetrics: opts.processMetrics });
  const pollMs = opts.fileCheckIntervalMs ?? 1000;
  const pollers: FilePoller[] = [];
  const closers: Array<() => Promise<void> | void> = [];

  let auth: Authenticator | undefined;
  if (opts.authentication === 'tls') {
    if (!opts.tlsCertFile || !opts.tlsPrivateKeyFile) throw new ServerStartError('--authentication=tls needs HTTPS: --tls-cert-file and --tls-private-key-file');
    if (!opts.tlsCaCertFile) throw new ServerStartError('--authentication=tls needs --tls-ca-cert-file with the CAs that sign client certificates');
    if (opts.tokenFile) throw new ServerStartError('--token-file is only used with --authentication=token');
    auth = new ClientCertAuthenticator();
  } else if (opts.tlsCaCertFile) {
    throw new ServerStartError('--tls-ca-cert-file is only used with --authentication=tls');
  }
  if (opts.authentication === 'token') {
    if (!opts.tokenFile) throw new ServerStartError('--authentication=token needs --token-file with the accepted tokens');
    const a = TokenAuthenticator.fromFile(opts.tokenFile);
    auth = a;
    pollers.push(
      pollFiles(
        [opts.tokenFile],
        pollMs,
        ([text]) => {
          const tokens = parseTokens(text.toString('utf8'));
          if (tokens.length === 0) {
            logger.error('token file holds no tokens; keeping the previous tokens', { token_file: opts.tokenFile });
            return;
          }
          a.set(tokens);
          logger.info('tokens reloaded', { token_file: opts.tokenFile, tokens: tokens.length });
        },
        (e) => logger.warn('cannot read the token file; keeping the previous tokens', { error: e.message }),
        [readFileSync(opts.tokenFile)],
      ),
    );
  } else if (opts.tokenFile) {
    throw new ServerStartError('--token-file is only used with --authentication=token');
  }

  const hooks: BuiltinHooks = {
    print: (message, location) => logger.info('print', { message, location: location ? `${location.file}:${location.row}` : undefined }),
  };
  if (opts.allowNet && opts.allowNet.length > 0) {
    const { createHttpSendHook } = await import('../runtime/http-send.js');
    const sender = createHttpSendHook({ allowedHosts: opts.allowNet });
    hooks.httpSend = sender.hook;
    hooks.lookupIPAddr = sender.lookupIPAddr;
    closers.push(() => sender.close());
  }

  const decisionSink = opts.decisionLogSink ?? sinkFor(opts.decisionLog);
  const version = packageVersion();
  const labels = { app: 'image-enforcer', version };
  const api = new Api(runtime, {
    maxBodyBytes: opts.maxBodyBytes,
    evalTimeoutMs: opts.evalTimeoutMs,
    logger,
    metrics,
    decisionLog: decisionSink ? new DecisionLogger(decisionSink, labels) : undefined,
    authz: opts.authorization === 'basic' ? new Authorizer(runtime, { evalTimeoutMs: opts.evalTimeoutMs, hooks, authentication: opts.authentication }) : undefined,
    logPolicy: decisionSink ? new DecisionLogPolicy({ runtime, logger, hooks, evalTimeoutMs: opts.evalTimeoutMs, labels }) : undefined,
    auth,
    defaultDecision: splitPath(opts.defaultDecision ?? 'system/main'),
    imageReviewPaths: (opts.imageReviewPaths ?? ['io/k8s/image_policy']).map(splitPath),
    hooks,
    version,
    admission: { failureMode: opts.admissionFailureMode ?? 'deny', timeoutMs: opts.admissionTimeoutMs ?? 9000 },
  });

  // Answers not yet sent, per connection. With pipelining, a request Node cannot parse may
  // follow requests still being answered; its 400 must come after their answers, or the client
  // would read it as the answer to one of them.
  const unanswered = new WeakMap<object, Set<ServerResponse>>();
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    let open = unanswered.get(req.socket);
    if (!open) unanswered.set(req.socket, (open = new Set()));
    const pending = open.add(res);
    res.once('close', () => pending.delete(res));
    api.handle(req, res);
  };
  let server: Server;
  // The API checks the Host header itself (requireHostHeader: false) so that its answer has a body.
  const tls = Boolean(opts.tlsCertFile || opts.tlsPrivateKeyFile);
  if (tls) {
    if (!opts.tlsCertFile || !opts.tlsPrivateKeyFile) throw new ServerStartError('HTTPS needs both --tls-cert-file and --tls-private-key-file');
    const material = loadTlsMaterial(opts.tlsCertFile, opts.tlsPrivateKeyFile, opts.tlsCaCertFile);
    // Client certificates are asked for, not required: requests without one reach the routes
    // that need no authentication (health checks), and the others are refused with a 401 body.
    const clientCerts = material.ca ? { requestCert: true, rejectUnauthorized: false } : {};
    const s = createHttpsServer({ ...secureContextOptions(material), ...clientCerts, requireHostHeader: false }, handle);
    const files = { certFile: opts.tlsCertFile, keyFile: opts.tlsPrivateKeyFile, caFile: opts.tlsCaCertFile };
    pollers.push(watchCertificates(s, files, material, pollMs, logger, metrics));
    server = s;
  } else {
    server = createHttpServer({ requireHostHeader: false }, handle);
  }
  // A client that declares a body over the limit with `Expect: 100-continue` gets 413 before
  // it sends anything (curl does this for large uploads).
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (declaredTooLarge(req, opts.maxBodyBytes)) res.setHeader('Connection', 'close');
    else res.writeContinue();
    handle(req, res);
  });
  // Idle keep-alive connections stay open longer than clients keep them idle (Go's HTTP client,
  // which the API server uses for webhooks, drops them after 90 s; OPA never closes them). With
  // Node's default of 5 s, a client reusing a connection just as the server closes it gets an
  // error for a POST it cannot safely retry: a failed review, and a denied pod.
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  // Slow or stuck clients cannot hold connections forever.
  server.headersTimeout = 30_000;
  server.requestTimeout = Math.max(60_000, opts.evalTimeoutMs + 30_000);
  // CONNECT never reaches the request handler, and Node drops the connection when nobody
  // listens for it: refuse it like any other method the API does not take.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy());
    socket.end(
      rawAnswer('405 Method Not Allowed', 'invalid_operation', 'method CONNECT is not allowed: this server is not a proxy', {
        headers: 'Allow: GET, POST, PUT, PATCH, DELETE\r\n',
      }),
    );
  });
  // Requests Node cannot parse never reach the API; they get OPA's error body all the same.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    const answer = (): void => {
      if (socket.writable && !socket.destroyed && err.code !== 'ECONNRESET') socket.end(clientErrorAnswer(err, server.requestTimeout));
      else socket.destroy();
    };
    // A request whose body is still arriving is the broken one itself: it is not waited for.
    const open = [...(unanswered.get(socket) ?? [])].filter((res) => res.req.complete);
    let left = open.length;
    if (left === 0) answer();
    for (const res of open) res.once('close', () => --left === 0 && answer());
  });

  await listen(server, host, port, opts.addr);
  server.on('error', (e) => logger.error('server error', { error: e.message }));
  const url = baseUrl(server, host, tls ? 'https' : 'http');

  // The diagnostic address: health checks and metrics over plain HTTP, without credentials.
  let diagnostic: Server | undefined;
  if (diagnosticAt) {
    diagnostic = createHttpServer({ requireHostHeader: false }, api.handleDiagnostic);
    diagnostic.keepAliveTimeout = KEEP_ALIVE_MS;
    diagnostic.headersTimeout = 30_000;
    diagnostic.on('clientError', (err: ClientError, socket: Duplex) => {
      if (socket.writable && err.code !== 'ECONNRESET') socket.end(clientErrorAnswer(err, diagnostic!.requestTimeout));
      else socket.destroy();
    });
    try {
      await listen(diagnostic, diagnosticAt.host, diagnosticAt.port, `--diagnostic-addr ${opts.diagnosticAddr}`);
    } catch (e) {
      for (const p of pollers) p.stop();
      server.close();
      throw e;
    }
    diagnostic.on('error', (e) => logger.error('diagnostic server error', { error: e.message }));
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      // From now on readiness fails and answers carry Connection: close, so clients move to
      // other replicas; the port stays open for the wait period.
      api.closing = true;
      if (opts.shutdownWaitMs) await new Promise((resolve) => setTimeout(resolve, opts.shutdownWaitMs));
      for (const p of pollers) p.stop();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      diagnostic?.close();
      diagnostic?.closeAllConnections();
      // Idle keep-alive connections are closed now; busy ones finish their request first and
      // are closed after answering (the answer carries Connection: close).
      server.closeIdleConnections();
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      const hard = setTimeout(() => server.closeAllConnections(), opts.shutdownTimeoutMs ?? 10_000);
      hard.unref();
      try {
        await done;
      } finally {
        clearInterval(sweep);
        clearTimeout(hard);
        for (const c of closers) await c();
      }
    })();
    return closing;
  };

  return {
    url,
    port: (server.address() as AddressInfo).port,
    diagnosticUrl: diagnostic ? baseUrl(diagnostic, diagnosticAt?.host, 'http') : undefined,
    server,
    metrics,
    logger,
    checkFiles: async () => {
      await Promise.all(pollers.map((p) => p.check()));
    },
    close,
  };
}

/**
 * Runs the server until SIGTERM or SIGINT, then shuts down gracefully and resolves.
 * With `syncConfig`, the layer sync runs in the same process and writes through this server.
 */
export async function runServer(runtime: Runtime, opts: ServerOptions): Promise<void> {
  // A bad sync configuration is reported before the port is taken.
  const sync = opts.syncConfig ? await prepareSync(opts.syncConfig, opts) : undefined;
  const handle = await createServer(runtime, { ...opts, processMetrics: opts.processMetrics ?? true });
  const { logger } = handle;
  const onReload = (ev: ReloadEvent): void => {
    if (ev.ok) {
      handle.metrics.policyUpdates.inc({ operation: 'reload', outcome: 'ok' });
      logger.info('policies and data reloaded', { generation: runtime.generation });
    } else {
      handle.metrics.policyUpdates.inc({ operation: 'reload', outcome: 'rejected' });
      logger.error('reload failed; still serving the last good policies and data', { error: ev.error?.message });
    }
  };
  runtime.on('reload', onReload);
  logger.info('server started', {
    addr: opts.addr,
    url: handle.url,
    tls: Boolean(opts.tlsCertFile),
    authentication: opts.authentication,
    authorization: opts.authorization ?? 'off',
    decision_log: opts.decisionLog,
    max_body_bytes: opts.maxBodyBytes,
    eval_timeout_ms: opts.evalTimeoutMs,
    modules: runtime.modules().length,
  });

  const stopSync = sync ? sync(handle, opts, logger) : undefined;

  const signal = await new Promise<string>((resolve) => {
    const on = (sig: NodeJS.Signals): void => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(sig);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
  logger.info('shutting down: finishing requests in flight', { signal, wait_ms: opts.shutdownWaitMs ?? 0 });
  await stopSync?.();
  await handle.close();
  runtime.off('reload', onReload);
  logger.info('server stopped');
}

/** A name the certificate is valid for (its first DNS SAN, else its CN), or undefined for IP-only certificates. */
function certificateName(certFile: string): string | undefined {
  const cert = new X509Certificate(readFileSync(certFile));
  const sans = (cert.subjectAltName ?? '').split(',').map((x) => x.trim());
  if (sans.includes('IP Address:127.0.0.1')) return undefined;
  const dns = sans.find((x) => x.startsWith('DNS:'));
  if (dns) return dns.slice(4);
  return /CN=([^\n,]+)/.exec(cert.subject)?.[1];
}

type SyncStarter = (handle: ServerHandle, opts: ServerOptions, logger: JsonLogger) => () => Promise<void>;

/**
 * Reads the layer sync's configuration (src/sync) and returns a function that starts the sync
 * against this server's Data API (sending the configuration's opa.tokenFile, or else a token from
 * --token-file, when tokens are required).
 */
async function prepareSync(configFile: string, server: ServerOptions): Promise<SyncStarter> {
  const sync = await import('../sync/index.js');
  // The Data API URL is this server's, known once it listens; until then a stand-in with its
  // scheme, so that the configuration's client certificate (https only) is accepted.
  const standIn = `${server.tlsCertFile ? 'https' : 'http'}://127.0.0.1/v1`;
  const options = sync.parseSyncFlags(['--config', configFile, '--opa-url', standIn], process.env);
  if (server.authentication === 'tls' && !options.opaTls?.certFile) {
    throw new ServerStartError(
      `--sync-config ${configFile}: with --authentication=tls the sync needs a client certificate signed by a CA of --tls-ca-cert-file: set opa.certFile and opa.keyFile`,
    );
  }
  return (handle, opts, logger) => {
    options.opaUrl = `${handle.url.replace('//localhost:', '//127.0.0.1:')}/v1`;
    if (opts.tlsCertFile) {
      // Over HTTPS to ourselves: trust exactly our own certificate, under a name it carries
      // (and present the configuration's client certificate, if any).
      options.opaTls = { ...options.opaTls, caFile: opts.tlsCertFile, serverName: certificateName(opts.tlsCertFile), insecure: false };
    }
    // The configuration's own opa.tokenFile (e.g. a token only allowed to write scan data) wins;
    // without one, the sync sends the first token of --token-file.
    if (opts.authentication === 'token' && opts.tokenFile && !options.opaTokenFile) {
      const token = TokenAuthenticator.fromFile(opts.tokenFile).anyToken();
      options.opaHeaders = { ...options.opaHeaders, Authorization: `Bearer ${token}` };
    }
    // The sync's counters and its last successful cycle appear on this server's /metrics.
    options.metrics = sync.createSyncMetrics(handle.metrics.registry);
    const abort = new AbortController();
    const running = sync.runSync(options, abort.signal).catch((e: unknown) => {
      if (!abort.signal.aborted) logger.error('layer sync stopped', { error: (e as Error).message });
    });
    logger.info('layer sync started', { config: configFile, opa_url: options.opaUrl });
    return async () => {
      abort.abort();
      await running;
    };
  };
}
