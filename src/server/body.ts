// Request bodies: read with a size limit (also after gzip decompression, so a small "zip bomb"
// cannot expand past it), then parse as JSON (exact integers) or YAML.
import type { IncomingMessage } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { parseYAMLValue } from '../loader/index.js';
import { parseJSON, type Value } from '../rego/value.js';
import { ApiError } from './errors.js';

/** The client went away before the body was complete: nobody is left to answer. */
export class ClientGone extends Error {
  constructor() {
    super('client closed the connection');
    this.name = 'ClientGone';
  }
}

export function tooLarge(maxBytes: number, compressed = false): ApiError {
  const what = compressed ? 'compressed request body too large' : 'request body too large';
  return new ApiError(413, 'invalid_parameter', `${what}: the limit is ${maxBytes} bytes (set with --max-body-size)`);
}

/**
 * After answering 413 we keep reading (and dropping) the rest of the body so that the client,
 * which may still be sending, gets to read our answer instead of a connection reset. A client
 * that keeps sending far beyond the limit is cut off.
 */
function drain(req: IncomingMessage, maxBytes: number): void {
  const cap = Math.min(Math.max(4 * maxBytes, 1 << 20), 64 << 20);
  let dropped = 0;
  req.removeAllListeners('data');
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > cap) req.socket?.destroy();
  });
  req.on('error', () => {});
  req.resume();
}

/** True when a declared Content-Length already exceeds the limit. */
export function declaredTooLarge(req: IncomingMessage, maxBytes: number): boolean {
  const cl = req.headers['content-length'];
  return cl !== undefined && Number(cl) > maxBytes;
}

/** Reads the whole body (decompressing gzip); throws ApiError 413/400 or ClientGone. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => readBodyThen(req, maxBytes, (err, body) => (err ? reject(err) : resolve(body!))));
}

/**
 * readBody with a callback instead of a promise, for the webhook's path: `done` gets the body,
 * or ApiError 413/400 or ClientGone, exactly once. It may be called before readBodyThen returns
 * (a declared Content-Length over the limit).
 */
export function readBodyThen(req: IncomingMessage, maxBytes: number, done: (err: Error | undefined, body?: Buffer) => void): void {
  if (declaredTooLarge(req, maxBytes)) {
    drain(req, maxBytes);
    done(tooLarge(maxBytes));
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (err?: Error, body?: Buffer): void => {
    if (finished) return;
    finished = true;
    req.off('end', onEnd);
    req.off('aborted', onAborted);
    done(err, body);
  };
  const onData = (chunk: Buffer): void => {
    size += chunk.length;
    if (size > maxBytes) {
      drain(req, maxBytes);
      finish(tooLarge(maxBytes));
      return;
    }
    chunks.push(chunk);
  };
  const onEnd = (): void => {
    let body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
    try {
      body = decode(req, body, maxBytes);
    } catch (e) {
      finish(e as Error);
      return;
    }
    finish(undefined, body);
  };
  const onAborted = (): void => finish(new ClientGone());
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('aborted', onAborted);
  req.on('error', () => finish(new ClientGone()));
}

function decode(req: IncomingMessage, body: Buffer, maxBytes: number): Buffer {
  const enc = String(req.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (enc === '' || enc === 'identity') return body;
  if (enc !== 'gzip') throw new ApiError(415, 'invalid_parameter', `unsupported Content-Encoding "${enc}": send gzip or uncompressed bodies`);
  try {
    return gunzipSync(body, { maxOutputLength: maxBytes });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) throw tooLarge(maxBytes, true);
    throw new ApiError(400, 'invalid_parameter', `could not decompress the body: ${(e as Error).message}`);
  }
}

export function isYAML(contentType: string | undefined): boolean {
  if (contentType === undefined || contentType === 'application/json') return false; // the usual case, decided without parsing the header
  const ct = contentType.split(';')[0].trim().toLowerCase();
  return ct === 'application/x-yaml' || ct === 'application/yaml' || ct === 'text/yaml' || ct === 'text/x-yaml';
}

const NOT_SPACE = /\S/;

/**
 * Parses a document from a body: YAML when the Content-Type says so, JSON otherwise.
 * An empty body is `undefined`. Throws a plain Error whose message says what is wrong.
 */
export function parseDocument(body: Buffer | string, contentType: string | undefined): Value | undefined {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (!NOT_SPACE.test(text)) return undefined; // blank (what trim() removes is what \s matches), without copying the body
  if (isYAML(contentType)) return parseYAMLValue(text); // refuses YAML nested too deeply (MAX_YAML_DEPTH)
  try {
    return parseJSON(text);
  } catch (e) {
    // Deeply nested input can exhaust the stack in conversion: report it, never crash.
    if (e instanceof RangeError) throw new Error('document is nested too deeply');
    throw e;
  }
}
