// The REST API: OPA's Data, Policy, Query and Health APIs (protocols.md §3) plus the
// ImagePolicyWebhook hardening on /v0/data (§1). One `handle(req, res)` per request: route,
// authenticate, run the handler, and turn every failure into OPA's error body — a request can
// fail, the server cannot.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BuiltinHooks } from '../rego/builtins/registry.js';
import { HaltError, RegoError, RegoErrors } from '../rego/errors.js';
import type { EvalOutcome, PreparedQuery } from '../rego/index.js';
import { admit, type FailureMode } from '../kube/admission.js';
import { mutate } from '../kube/mutation.js';
import { RObject, fromJSON, isObject, stringifyJSON, type Value } from '../rego/value.js';
import type { Runtime } from '../runtime/runtime.js';
import { StoreError, parsePointer, type JsonPatchOp } from '../store/index.js';
import type { Authenticator } from './auth.js';
import { expectsBody, type Authorizer } from './authz.js';
import { ClientGone, parseDocument, readBody, readBodyThen } from './body.js';
import type { Decision, DecisionLogger } from './decision-log.js';
import type { DecisionLogPolicy } from './log-policy.js';
import {
  ApiError,
  MSG_COMPILE_MODULE,
  MSG_EVAL,
  badRequest,
  queryError,
  regoErrorDetails,
  storeError,
  type ErrorBody,
} from './errors.js';
import { imageReviewProblem, looksLikeImageReview, reviewAllowed } from './imagereview.js';
import type { JsonLogger } from './log.js';
import type { ServerMetrics } from './metrics.js';
import { conflictingRule, dataRef, dataRefReadsData, hasRulesAt, splitPath } from './paths.js';

export interface ApiOptions {
  maxBodyBytes: number;
  evalTimeoutMs: number;
  logger: JsonLogger;
  metrics: ServerMetrics;
  decisionLog?: DecisionLogger;
  /** data.system.log.drop and .mask, applied to each decision before it is logged. */
  logPolicy?: DecisionLogPolicy;
  /** Bearer tokens or client certificates (--authentication). */
  auth?: Authenticator;
  /** --authorization=basic: data.system.authz.allow decides on each request. */
  authz?: Authorizer;
  /** Data path of POST / (OPA's default decision), e.g. ["system", "main"]. */
  defaultDecision: string[];
  /** /v0/data paths (and their subpaths) whose bodies must be ImageReviews. */
  imageReviewPaths: string[][];
  hooks: BuiltinHooks;
  version: string;
  /** The admission webhook's answer when the policy cannot be evaluated, and its time limit. */
  admission: { failureMode: FailureMode; timeoutMs: number };
}

/**
 * A handler answers synchronously (returns nothing), through a promise, or, on the webhook's
 * path, returns DEFERRED and calls Api.complete itself once done: that path reads its body with
 * a callback and decides synchronously, without a promise or an async function per request.
 */
type Handler = (c: Ctx) => Promise<void> | void | typeof DEFERRED;
const DEFERRED = Symbol('deferred');

interface Route {
  /** Label for metrics, as OPA names its handlers (v0/data, v1/data, ...). */
  label: string;
  methods: Record<string, Handler>;
  /** Open without a token (health checks). */
  open?: boolean;
  /** Also served on the diagnostic address (--diagnostic-addr), without credentials. */
  diagnostic?: boolean;
}

/**
 * A data path the API decides on, with its query prepared for the current policy. Kept per raw
 * URL path: the webhook asks for the same path on every call.
 */
interface Target {
  path: string[];
  /** The path as the decision log shows it ("io/k8s/image_policy/verify"). */
  text: string;
  /** Bodies sent here must be ImageReviews (ApiOptions.imageReviewPaths). */
  imageReview: boolean;
  query: string;
  prepared?: PreparedQuery;
  /** The policy generation `prepared` was made for. */
  generation: number;
}

/** What GET / lists; the 404 for an unknown path names their roots. */
const ENDPOINTS = ['/v0/data/{path}', '/v1/data/{path}', '/v1/policies/{id}', '/v1/query', '/v1/admit', '/v1/mutate', '/health', '/metrics'];
const ROOTS = ENDPOINTS.map((e) => e.replace(/\/\{\w+\}$/, ''));
const API_ROOTS = `${ROOTS.slice(0, -1).join(', ')} and ${ROOTS[ROOTS.length - 1]}`;

/** The query of URLs without one (most requests); only ever read. */
const NO_QUERY = new URLSearchParams();

/** Per-request state. */
class Ctx {
  readonly started = process.hrtime.bigint();
  /** The body's document, when it was read and parsed before the handler ran (for the authorization policy). */
  document?: { value: Value | undefined };
  evalNs = 0n;
  parseNs = 0n;
  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    /** The part of the URL path after the route's prefix (still percent-encoded). */
    readonly rest: string,
    readonly query: URLSearchParams,
    /** The route's metrics label and the request's method. */
    readonly label: string,
    readonly method: string,
  ) {}

  flag(name: string): boolean {
    if (this.query === NO_QUERY) return false; // most requests: nothing to look up
    // OPA: `?pretty` (no value) and `?pretty=true` are on; anything else is off.
    const vs = this.query.getAll(name);
    if (vs.length === 1 && vs[0] === '') return true;
    return vs.some((v) => v.toLowerCase() === 'true');
  }

  get pretty(): boolean {
    return this.flag('pretty');
  }

  metricsBody(): Record<string, bigint> {
    const out: Record<string, bigint> = {};
    if (this.parseNs) out.timer_rego_input_parse_ns = this.parseNs;
    out.timer_rego_query_eval_ns = this.evalNs;
    out.timer_server_handler_ns = process.hrtime.bigint() - this.started;
    return out;
  }
}

export class Api {
  private readonly routes: Array<{ prefix: string; exact: boolean; route: Route }>;
  /** Data paths decided on, by their raw URL path (see target()). */
  private targets = new Map<string, Target>();
  private lastRest: string | undefined;
  private lastTarget: Target | undefined;
  private readonly defaultTarget: Target;
  /** Set during graceful shutdown: answers carry `Connection: close`, readiness fails. */
  closing = false;

  constructor(
    private readonly runtime: Runtime,
    private readonly o: ApiOptions,
  ) {
    const data: Route = {
      label: 'v1/data',
      methods: {
        GET: (c) => this.v1DataRead(c, 'GET'),
        POST: (c) => this.v1DataRead(c, 'POST'),
        PUT: (c) => this.v1DataPut(c),
        PATCH: (c) => this.v1DataPatch(c),
        DELETE: (c) => this.v1DataDelete(c),
      },
    };
    this.defaultTarget = this.newTarget(o.defaultDecision);
    const health: Route = { label: 'health', open: true, diagnostic: true, methods: { GET: (c) => this.health(c) } };
    this.routes = [
      { prefix: '/v0/data', exact: false, route: { label: 'v0/data', methods: { POST: (c) => this.v0Data(c) } } },
      { prefix: '/v1/data', exact: false, route: data },
      { prefix: '/v1/policies', exact: true, route: { label: 'v1/policies', methods: { GET: (c) => this.policiesList(c) } } },
      {
        prefix: '/v1/policies/',
        exact: false,
        route: {
          label: 'v1/policies',
          methods: { GET: (c) => this.policyGet(c), PUT: (c) => this.policyPut(c), DELETE: (c) => this.policyDelete(c) },
        },
      },
      // The validating admission webhook. Open without a token: API servers of managed
      // clusters cannot be given credentials for webhooks; TLS and the network protect it, and
      // it only answers decisions (it reads no stored documents back to the caller).
      { prefix: '/v1/admit', exact: true, route: { label: 'v1/admit', open: true, methods: { POST: (c) => this.admission(c, 'v1/admit') } } },
      // The mutating admission webhook (images replaced by the policy, e.g. pinned to digests):
      // open for the same reasons; it only answers a patch of the caller's own object.
      { prefix: '/v1/mutate', exact: true, route: { label: 'v1/mutate', open: true, methods: { POST: (c) => this.admission(c, 'v1/mutate') } } },
      { prefix: '/v1/query', exact: true, route: { label: 'v1/query', methods: { GET: (c) => this.queryGet(c), POST: (c) => this.queryPost(c) } } },
      { prefix: '/health', exact: false, route: health },
      { prefix: '/metrics', exact: true, route: { label: 'metrics', diagnostic: true, methods: { GET: (c) => this.prometheus(c) } } },
      { prefix: '/', exact: true, route: { label: 'index', methods: { POST: (c) => this.defaultDecision(c), GET: (c) => this.index(c) } } },
    ];
  }

  /** The request listener. Never throws. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => this.serve(req, res, false);

  /**
   * The listener of the diagnostic address (--diagnostic-addr): the health checks and /metrics
   * only, without authentication or authorization, as OPA serves them there.
   */
  readonly handleDiagnostic = (req: IncomingMessage, res: ServerResponse): void => this.serve(req, res, true);

  private serve(req: IncomingMessage, res: ServerResponse, diagnostic: boolean): void {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const pathname = q < 0 ? raw : raw.slice(0, q);
    const query = q < 0 ? NO_QUERY : new URLSearchParams(raw.slice(q + 1));
    const method = req.method ?? 'GET';
    let label = 'catchall';
    let c: Ctx | undefined;
    try {
      // HTTP/1.1 requires a Host header (RFC 9112 §3.2).
      if (req.headers.host === undefined && req.httpVersionMinor >= 1) throw badRequest('the request has no Host header: HTTP/1.1 requires one');
      const found = this.match(pathname);
      if (diagnostic && !found?.route.diagnostic) {
        throw new ApiError(404, 'resource_not_found', `unknown path ${pathname}: the diagnostic address serves /health and /metrics only`);
      }
      if (!found) {
        throw new ApiError(404, 'resource_not_found', `unknown path ${pathname}: the API is under ${API_ROOTS}`);
      }
      label = found.route.label;
      c = new Ctx(req, res, found.rest, query, label, method);
      const fn = found.route.methods[method];
      if (!fn) {
        const allowed = Object.keys(found.route.methods).join(', ');
        throw new ApiError(405, 'invalid_operation', `method ${method} is not allowed on ${pathname} (allowed: ${allowed})`, undefined, { Allow: allowed });
      }
      if (!found.route.open && !diagnostic) {
        if (this.o.auth) this.o.auth.check(req);
        if (this.o.authz) {
          this.authorizeThenRun(c, fn, pathname);
          return;
        }
      }
      this.run(c, fn);
    } catch (e) {
      this.failed(res, e, label, method, c);
    }
  }

  /** Runs the handler and completes the request: now, when its promise settles, or (DEFERRED) when it says so. */
  private run(c: Ctx, fn: Handler): void {
    let r: ReturnType<Handler>;
    try {
      r = fn(c);
    } catch (e) {
      this.complete(c, true, e);
      return;
    }
    if (r === DEFERRED) return;
    if (r === undefined) this.complete(c, false);
    else r.then(() => this.complete(c, false), (e: unknown) => this.complete(c, true, e));
  }

  /**
   * --authorization=basic: the policy decides before the handler runs. For the requests whose
   * body OPA shows the policy, the body is read (and kept for the handler) first.
   */
  private authorizeThenRun(c: Ctx, fn: Handler, pathname: string): void {
    const authz = this.o.authz!;
    const request = { req: c.req, pathname, method: c.method, query: c.query };
    if (!expectsBody(c.method, pathname)) {
      authz.check(request);
      this.run(c, fn);
      return;
    }
    readBodyThen(c.req, this.o.maxBodyBytes, (err, body) => {
      try {
        if (err) throw err;
        let value: Value | undefined;
        try {
          value = this.parseBody(c, body!);
        } catch (e) {
          throw badRequest(`invalid request body: ${(e as Error).message}`);
        }
        authz.check({ ...request, body: value });
        c.document = { value };
      } catch (e) {
        this.complete(c, true, e);
        return;
      }
      this.run(c, fn);
    });
  }

  /** The end of a request: its error answered (when it failed), its duration recorded. */
  private complete(c: Ctx, failed: boolean, e?: unknown): void {
    if (failed) this.failed(c.res, e, c.label, c.method, c);
    else this.observe(c.res, c.label, c.method, c);
  }

  private failed(res: ServerResponse, e: unknown, label: string, method: string, c: Ctx | undefined): void {
    try {
      if (e instanceof ClientGone) {
        res.destroy();
      } else {
        this.sendError(res, e, label, method);
      }
    } finally {
      this.observe(res, label, method, c);
    }
  }

  private observe(res: ServerResponse, label: string, method: string, c: Ctx | undefined): void {
    const seconds = Number(process.hrtime.bigint() - (c?.started ?? process.hrtime.bigint())) / 1e9;
    this.o.metrics.httpDuration.observe({ code: String(res.statusCode), handler: label, method }, seconds);
  }

  private match(pathname: string): { route: Route; rest: string } | undefined {
    for (const r of this.routes) {
      if (r.exact) {
        if (pathname === r.prefix || (r.prefix !== '/' && pathname === r.prefix + '/')) return { route: r.route, rest: '' };
        continue;
      }
      if (pathname === r.prefix || pathname.startsWith(r.prefix.endsWith('/') ? r.prefix : r.prefix + '/')) {
        return { route: r.route, rest: pathname.slice(r.prefix.length) };
      }
    }
    return undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Responses

  private send(res: ServerResponse, status: number, body: unknown, pretty: boolean, headers?: Record<string, string>): void {
    if (res.headersSent) return;
    if (this.closing) res.setHeader('Connection', 'close');
    if (headers) for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    if (status === 204 || status === 304) {
      res.writeHead(status);
      res.end();
      return;
    }
    // Like OPA: compact JSON, or indented with a trailing newline when ?pretty.
    const text = pretty ? stringifyJSON(body, 2) + '\n' : stringifyJSON(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  private sendError(res: ServerResponse, e: unknown, label: string, method: string): void {
    let err: ApiError;
    if (e instanceof ApiError) err = e;
    else if (e instanceof StoreError) err = storeError(e);
    else {
      err = new ApiError(500, 'internal_error', `internal error: ${(e as Error)?.message ?? String(e)}`);
      this.o.logger.error('request failed', { handler: label, method, error: (e as Error)?.stack ?? String(e) });
    }
    if (err.status === 400 || err.status === 413 || err.status === 415) {
      this.o.metrics.badRequests.inc({ handler: label, reason: err.status === 400 ? 'invalid' : 'too_large' });
    }
    // OPA writes error bodies indented, with a trailing newline.
    this.send(res, err.status, err.body(), true, err.headers);
  }

  // -------------------------------------------------------------------------------------------
  // Evaluation

  private prepare(query: string): PreparedQuery {
    try {
      return this.runtime.prepare(query);
    } catch (e) {
      if (e instanceof RegoError || e instanceof RegoErrors) throw queryError(e);
      throw e;
    }
  }

  /** Evaluates with the time limit; Rego errors become OPA's 500 answers. */
  private evaluate(c: Ctx, q: PreparedQuery, input: Value | undefined, label: string, notes = false): EvalOutcome {
    const t0 = process.hrtime.bigint();
    const strict = c.flag('strict-builtin-errors');
    try {
      return q.eval({
        input,
        data: this.runtime.store.snapshot(),
        strictBuiltinErrors: strict,
        hooks: this.o.hooks,
        deadline: Date.now() + this.o.evalTimeoutMs,
        collectNotes: notes,
      });
    } catch (e) {
      throw this.evalError(e);
    } finally {
      c.evalNs = process.hrtime.bigint() - t0;
      this.o.metrics.evalDuration.observe({ handler: label }, Number(c.evalNs) / 1e9);
    }
  }

  private evalError(e: unknown): ApiError {
    const inner = e instanceof HaltError ? e.inner : e;
    if (inner instanceof RegoError || inner instanceof RegoErrors) {
      const details = regoErrorDetails(inner);
      if (details.some((d) => d.code === 'eval_cancel_error')) {
        return new ApiError(
          500,
          'evaluation_error',
          `evaluation stopped: it took longer than the time limit of ${this.o.evalTimeoutMs} ms (set with --eval-timeout)`,
          details,
        );
      }
      return new ApiError(500, 'internal_error', MSG_EVAL, details);
    }
    if (inner instanceof RangeError) {
      // Runaway recursion in a policy exhausts the stack: an evaluation error, not a crash.
      return new ApiError(500, 'internal_error', MSG_EVAL, [{ code: 'eval_internal_error', message: inner.message }]);
    }
    if (inner instanceof ApiError) return inner;
    return new ApiError(500, 'internal_error', `internal error during evaluation: ${(inner as Error)?.message ?? String(inner)}`);
  }

  private explainMode(c: Ctx): boolean {
    const mode = c.query.get('explain');
    if (mode === null || mode === '' || mode === 'off') return false;
    if (mode === 'notes') return true;
    throw badRequest(`explain=${mode} is not supported: use explain=notes (notes come from trace() calls)`);
  }

  private explanation(outcome: EvalOutcome, pretty: boolean): unknown {
    if (pretty) return outcome.notes.map((n) => `${n.location ? `${n.location.file}:${n.location.row} ` : ''}Note ${JSON.stringify(n.message)}`);
    return outcome.notes.map((n) => ({ op: 'note', message: n.message, location: n.location }));
  }

  private async readDocument(c: Ctx): Promise<Value | undefined> {
    if (c.document) return c.document.value;
    return this.parseBody(c, await readBody(c.req, this.o.maxBodyBytes));
  }

  /** Parses a request body read by readBody, timing it for ?metrics. */
  private parseBody(c: Ctx, body: Buffer): Value | undefined {
    const t0 = process.hrtime.bigint();
    try {
      return parseDocument(body, c.req.headers['content-type']);
    } finally {
      c.parseNs = process.hrtime.bigint() - t0;
    }
  }

  private requestedBy(c: Ctx): string {
    const s = c.req.socket;
    return s.remoteAddress ? `${s.remoteAddress}:${s.remotePort}` : '';
  }

  private logDecision(c: Ctx, id: string | undefined, path: string, input: Value | undefined, result: Value | undefined, error?: ErrorBody): void {
    if (!this.o.decisionLog || !id) return;
    const decision: Decision = {
      decisionId: id,
      path,
      input,
      result,
      error,
      requestedBy: this.requestedBy(c),
      evalNs: c.evalNs,
      handlerNs: process.hrtime.bigint() - c.started,
    };
    const logged = this.o.logPolicy ? this.o.logPolicy.apply(decision) : decision;
    if (logged) this.o.decisionLog.log(logged);
  }

  /** The target for a raw URL path (after the route's prefix); throws 400 for bad percent-encoding. */
  private target(rest: string): Target {
    // Mostly the same path as last time: comparing the strings is cheaper than hashing one.
    if (rest === this.lastRest) return this.lastTarget!;
    let t = this.targets.get(rest);
    if (!t) {
      t = this.newTarget(splitPath(rest));
      if (this.targets.size >= 1000) this.targets.clear();
      this.targets.set(rest, t);
    }
    this.lastRest = rest;
    this.lastTarget = t;
    return t;
  }

  private newTarget(path: string[]): Target {
    return { path, text: path.join('/'), imageReview: this.isImageReviewPath(path), query: '', generation: -1 };
  }

  /** The target's query, prepared for the current policy. */
  private prepared(t: Target): { query: string; prepared: PreparedQuery } {
    if (t.prepared && t.generation === this.runtime.generation) return t as { query: string; prepared: PreparedQuery };
    const query = dataRef(t.path, this.runtime.store.snapshot());
    const prepared = this.prepare(query);
    // With an integer segment the query depends on the data (array index or object key): not kept.
    if (dataRefReadsData(t.path)) return { query, prepared };
    t.query = query;
    t.prepared = prepared;
    t.generation = this.runtime.generation;
    return { query, prepared };
  }

  /** Evaluates a data path for a decision, logging it whatever the outcome. */
  private decide(c: Ctx, label: string, t: Target, input: Value | undefined, notes = false): { id?: string; query: string; outcome: EvalOutcome; value?: Value } {
    const id = this.o.decisionLog?.newId();
    let outcome: EvalOutcome;
    let query: string;
    try {
      const target = this.prepared(t);
      query = target.query;
      outcome = this.evaluate(c, target.prepared, input, label, notes);
    } catch (e) {
      const err = e instanceof ApiError ? e : this.evalError(e);
      this.o.metrics.decisions.inc({ handler: label, outcome: 'error' });
      this.logDecision(c, id, t.text, input, undefined, err.body());
      throw err;
    }
    const value = outcome.results[0]?.expressions[0]?.value;
    this.o.metrics.decisions.inc({ handler: label, outcome: value === undefined ? 'undefined' : 'defined' });
    this.logDecision(c, id, t.text, input, value);
    return { id, query, outcome, value };
  }

  // -------------------------------------------------------------------------------------------
  // v0 Data API and the default decision: raw input in, raw value out.

  private v0Data(c: Ctx): typeof DEFERRED {
    return this.rawDecision(c, this.target(c.rest), 'v0/data');
  }

  private defaultDecision(c: Ctx): typeof DEFERRED {
    return this.rawDecision(c, this.defaultTarget, 'index');
  }

  /** Reads the body, then decides and answers, and completes the request either way. */
  private rawDecision(c: Ctx, target: Target, label: string): typeof DEFERRED {
    if (c.document) this.answerRaw(c, target, label, undefined, undefined, c.document.value);
    else readBodyThen(c.req, this.o.maxBodyBytes, (err, body) => this.answerRaw(c, target, label, err, body));
    return DEFERRED;
  }

  /**
   * Decides on the body (or on its document, already parsed for the authorization policy) and
   * answers, completing the request either way.
   */
  private answerRaw(c: Ctx, target: Target, label: string, err: Error | undefined, body: Buffer | undefined, document?: Value): void {
    try {
      if (err) throw err;
      this.decideRaw(c, target, label, body ? this.rawInput(c, body) : document);
    } catch (e) {
      this.complete(c, true, e);
      return;
    }
    this.complete(c, false);
  }

  /** The v0 API's and the default decision's input: the whole body. */
  private rawInput(c: Ctx, body: Buffer): Value | undefined {
    try {
      // Not timed: the v0 API and the default decision answer no ?metrics.
      return parseDocument(body, c.req.headers['content-type']);
    } catch (e) {
      if (e instanceof ApiError || e instanceof ClientGone) throw e;
      throw badRequest(`unexpected parse error for input: ${(e as Error).message}`);
    }
  }

  private decideRaw(c: Ctx, target: Target, label: string, input: Value | undefined): void {
    if (looksLikeImageReview(input) || target.imageReview) {
      const problem = imageReviewProblem(input);
      if (problem) throw badRequest(`invalid ImageReview: ${problem}`);
    }
    const { value, query } = this.decide(c, label, target, input);
    if (value === undefined) {
      throw new ApiError(404, 'undefined_document', `document missing or undefined: ${query}`);
    }
    const allowed = reviewAllowed(value);
    if (allowed !== undefined && looksLikeImageReview(input)) this.o.metrics.imageReviews.inc({ allowed: String(allowed) });
    this.send(c.res, 200, value, c.pretty);
  }

  // -------------------------------------------------------------------------------------------
  // Admission webhooks: AdmissionReview in, AdmissionReview out. /v1/admit validates
  // (src/kube/admission.ts), /v1/mutate replaces images (src/kube/mutation.ts).

  private async admission(c: Ctx, handler: 'v1/admit' | 'v1/mutate'): Promise<void> {
    let body: Value | undefined;
    try {
      body = await this.readDocument(c);
    } catch (e) {
      if (e instanceof ApiError || e instanceof ClientGone) throw e;
      throw badRequest(`body is not a valid AdmissionReview: ${(e as Error).message}`);
    }
    const t0 = process.hrtime.bigint();
    const { failureMode, timeoutMs } = this.o.admission;
    const r = handler === 'v1/admit' ? admit(this.runtime, body, { failureMode, timeoutMs, hooks: this.o.hooks }) : mutate(this.runtime, body, { timeoutMs, hooks: this.o.hooks });
    c.evalNs = process.hrtime.bigint() - t0;
    this.o.metrics.decisions.inc({ handler, outcome: r.outcome });
    // A dry run has no side effects: no decision log.
    if (!r.dryRun && r.input !== undefined) {
      const id = this.o.decisionLog?.newId();
      const error: ErrorBody | undefined = r.error ? { code: 'evaluation_error', message: r.error } : undefined;
      this.logDecision(c, id, handler, fromJSON(r.input), r.result === undefined ? undefined : fromJSON(r.result), error);
    }
    this.send(c.res, r.statusCode, r.body, c.pretty);
  }

  private isImageReviewPath(path: string[]): boolean {
    return this.o.imageReviewPaths.some((p) => p.length <= path.length && p.every((s, i) => path[i] === s));
  }

  // -------------------------------------------------------------------------------------------
  // v1 Data API

  private async v1DataRead(c: Ctx, method: 'GET' | 'POST'): Promise<void> {
    const target = this.target(c.rest);
    const notes = this.explainMode(c);
    let input: Value | undefined;
    let missingInput = false;
    if (method === 'GET') {
      const inputs = c.query.getAll('input');
      if (inputs.length > 0) {
        const t0 = process.hrtime.bigint();
        try {
          input = parseDocument(inputs[inputs.length - 1], 'application/json');
        } catch (e) {
          throw badRequest(`invalid input parameter: ${(e as Error).message}`);
        } finally {
          c.parseNs = process.hrtime.bigint() - t0;
        }
      }
    } else {
      let body: Value | undefined;
      try {
        body = await this.readDocument(c);
      } catch (e) {
        if (e instanceof ApiError || e instanceof ClientGone) throw e;
        throw badRequest(`body contains malformed input document: ${(e as Error).message}`);
      }
      if (body !== undefined && !isObject(body)) {
        throw badRequest(`body must be an object like {"input": ...}, got ${Array.isArray(body) ? 'array' : typeof body}`);
      }
      input = body?.get('input');
      missingInput = input === undefined;
    }
    const d = this.decide(c, 'v1/data', target, input, notes);
    const out: Record<string, unknown> = {};
    if (c.flag('provenance')) out.provenance = { version: this.o.version, build_commit: '', build_timestamp: '', build_hostname: '' };
    if (c.flag('metrics')) out.metrics = c.metricsBody();
    if (d.value !== undefined) out.result = d.value;
    if (missingInput) out.warning = { code: 'api_usage_warning', message: "'input' key missing from the request" };
    if (d.id) out.decision_id = d.id;
    if (notes) out.explanation = this.explanation(d.outcome, c.pretty);
    this.send(c.res, 200, out, c.pretty);
  }

  private refuseRuleConflict(path: string[], value: Value | undefined): void {
    const rule = conflictingRule(this.runtime.rulePaths(), path, value);
    if (rule) {
      throw new ApiError(
        404,
        'resource_conflict',
        `storage_write_conflict_error: ${path.length ? '/' + path.map(encodeURIComponent).join('/') : '/'}: rules define ${dataRef(rule)}; policy documents cannot be written through the Data API`,
      );
    }
  }

  private noContentOrMetrics(c: Ctx): void {
    if (c.flag('metrics')) this.send(c.res, 200, { metrics: c.metricsBody() }, c.pretty);
    else this.send(c.res, 204, undefined, false);
  }

  private async v1DataPut(c: Ctx): Promise<void> {
    const path = splitPath(c.rest);
    let value: Value | undefined;
    try {
      value = await this.readDocument(c);
    } catch (e) {
      if (e instanceof ApiError || e instanceof ClientGone) throw e;
      throw badRequest(`body contains a malformed document: ${(e as Error).message}`);
    }
    if (value === undefined) throw badRequest('the body is empty: send the JSON document to store at this path');
    if (path.length === 0 && !isObject(value)) throw badRequest('the root document must be an object');
    this.refuseRuleConflict(path, value);
    const r = this.runtime.store.put(path, value, { ifNoneMatch: c.req.headers['if-none-match'] === '*' });
    if (r === 'unchanged') {
      this.send(c.res, 304, undefined, false);
      return;
    }
    this.noContentOrMetrics(c);
  }

  private async v1DataPatch(c: Ctx): Promise<void> {
    const base = splitPath(c.rest);
    let body: Value | undefined;
    try {
      body = await this.readDocument(c);
    } catch (e) {
      if (e instanceof ApiError || e instanceof ClientGone) throw e;
      throw badRequest(`body contains a malformed JSON Patch: ${(e as Error).message}`);
    }
    if (!Array.isArray(body)) {
      throw badRequest('a JSON Patch must be an array of operations like [{"op": "add", "path": "/x", "value": 1}]');
    }
    const ops: JsonPatchOp[] = body.map((raw, i) => {
      if (!(raw instanceof RObject)) throw badRequest(`bad patch operation ${i}: expected an object with "op" and "path"`);
      const op = raw.get('op');
      const p = raw.get('path');
      const from = raw.get('from');
      if (typeof op !== 'string') throw badRequest(`bad patch operation ${i}: "op" must be a string`);
      if (!['add', 'remove', 'replace', 'move', 'copy', 'test'].includes(op)) throw badRequest(`bad patch operation: ${op}`);
      if (typeof p !== 'string') throw badRequest(`bad patch path in operation ${i}: "path" must be a string`);
      if (from !== undefined && typeof from !== 'string') throw badRequest(`bad patch operation ${i}: "from" must be a string`);
      // OPA joins the op's path onto the URL path, with or without a leading slash.
      const pointer = p === '' || p.startsWith('/') ? p : '/' + p;
      const fromPtr = from === undefined || from === '' || from.startsWith('/') ? from : '/' + from;
      return { op, path: pointer, value: raw.get('value'), from: fromPtr };
    });
    for (const op of ops) {
      let rel: string[];
      try {
        rel = parsePointer(op.path);
      } catch {
        throw badRequest(`bad patch path: ${op.path}`);
      }
      if (rel[rel.length - 1] === '-') rel = rel.slice(0, -1);
      this.refuseRuleConflict([...base, ...rel], op.op === 'remove' ? undefined : (op.value ?? null));
    }
    this.runtime.store.patch(base, ops);
    this.noContentOrMetrics(c);
  }

  private v1DataDelete(c: Ctx): void {
    const path = splitPath(c.rest);
    if (path.length === 0) {
      throw new ApiError(405, 'invalid_operation', 'DELETE needs a path below /v1/data: the root document cannot be deleted', undefined, {
        Allow: 'GET, POST, PUT, PATCH',
      });
    }
    this.refuseRuleConflict(path, undefined);
    this.runtime.store.delete(path);
    this.noContentOrMetrics(c);
  }

  // -------------------------------------------------------------------------------------------
  // Policy API

  private policyJSON(id: string): Record<string, unknown> | undefined {
    const m = this.runtime.module(id);
    if (!m) return undefined;
    // Our AST is plain JSON data apart from the back-reference from rules to their module.
    const ast = JSON.parse(JSON.stringify(m.module, (k, v: unknown) => (k === 'module' ? undefined : v)));
    return { id: m.id, raw: m.text, ast };
  }

  private policiesList(c: Ctx): void {
    const result = this.runtime.modules().map((m) => this.policyJSON(m.id));
    this.send(c.res, 200, { result }, c.pretty);
  }

  private policyId(c: Ctx): string {
    let id: string;
    try {
      id = decodeURIComponent(c.rest);
    } catch {
      throw badRequest('invalid policy id: bad percent-encoding');
    }
    if (id === '') throw badRequest('missing policy id: use /v1/policies/<id>');
    return id;
  }

  private notFoundPolicy(id: string): ApiError {
    return new ApiError(404, 'resource_not_found', `storage_not_found_error: policy id ${JSON.stringify(id)}`);
  }

  private policyGet(c: Ctx): void {
    const id = this.policyId(c);
    const p = this.policyJSON(id);
    if (!p) throw this.notFoundPolicy(id);
    this.send(c.res, 200, { result: p }, c.pretty);
  }

  private refuseFileModule(id: string, verb: string): void {
    const m = this.runtime.module(id);
    if (m?.source === 'file') {
      throw new ApiError(
        400,
        'invalid_operation',
        `policy ${JSON.stringify(id)} was loaded from a file and cannot be ${verb} through the API: edit the file (the server reloads it with --watch) or use another id`,
      );
    }
  }

  private async policyPut(c: Ctx): Promise<void> {
    const id = this.policyId(c);
    const t0 = process.hrtime.bigint();
    const text = (await readBody(c.req, this.o.maxBodyBytes)).toString('utf8');
    this.refuseFileModule(id, 'replaced');
    if (this.runtime.module(id)?.text === text) {
      this.send(c.res, 200, c.flag('metrics') ? { metrics: c.metricsBody() } : {}, c.pretty);
      return;
    }
    if (text.trim() === '') throw badRequest('empty module');
    try {
      this.runtime.putModule(id, text);
    } catch (e) {
      if (e instanceof RegoError || e instanceof RegoErrors) {
        this.o.metrics.policyUpdates.inc({ operation: 'put', outcome: 'rejected' });
        throw badRequest(MSG_COMPILE_MODULE, regoErrorDetails(e));
      }
      throw e;
    }
    this.o.metrics.policyUpdates.inc({ operation: 'put', outcome: 'ok' });
    this.o.logger.info('policy updated', { id, compile_ns: process.hrtime.bigint() - t0 });
    this.send(c.res, 200, c.flag('metrics') ? { metrics: c.metricsBody() } : {}, c.pretty);
  }

  private policyDelete(c: Ctx): void {
    const id = this.policyId(c);
    this.refuseFileModule(id, 'deleted');
    let removed: boolean;
    try {
      removed = this.runtime.deleteModule(id);
    } catch (e) {
      if (e instanceof RegoError || e instanceof RegoErrors) {
        this.o.metrics.policyUpdates.inc({ operation: 'delete', outcome: 'rejected' });
        throw new ApiError(400, 'invalid_operation', MSG_COMPILE_MODULE, regoErrorDetails(e));
      }
      throw e;
    }
    if (!removed) throw this.notFoundPolicy(id);
    this.o.metrics.policyUpdates.inc({ operation: 'delete', outcome: 'ok' });
    this.o.logger.info('policy deleted', { id });
    this.send(c.res, 200, c.flag('metrics') ? { metrics: c.metricsBody() } : {}, c.pretty);
  }

  // -------------------------------------------------------------------------------------------
  // Query API

  private queryGet(c: Ctx): void {
    const qs = c.query.getAll('q');
    if (qs.length === 0) throw badRequest("missing parameter 'q'");
    this.runQuery(c, qs[qs.length - 1], undefined);
  }

  private async queryPost(c: Ctx): Promise<void> {
    let body: Value | undefined;
    try {
      body = await this.readDocument(c);
    } catch (e) {
      if (e instanceof ApiError || e instanceof ClientGone) throw e;
      throw badRequest(`error(s) occurred while decoding request: ${(e as Error).message}`);
    }
    if (!isObject(body)) throw badRequest('error(s) occurred while decoding request: expected an object like {"query": "...", "input": ...}');
    const q = body.get('query');
    if (typeof q !== 'string') throw badRequest('error(s) occurred while decoding request: "query" must be a string');
    this.runQuery(c, q, body.get('input'));
  }

  private runQuery(c: Ctx, text: string, input: Value | undefined): void {
    const notes = this.explainMode(c);
    if (text.trim() === '') throw badRequest(MSG_PARSE_QUERY_EMPTY);
    const outcome = this.evaluate(c, this.prepare(text), input, 'v1/query', notes);
    const out: Record<string, unknown> = {};
    if (notes) out.explanation = this.explanation(outcome, c.pretty);
    if (c.flag('metrics')) out.metrics = c.metricsBody();
    if (outcome.results.length > 0) {
      out.result = outcome.results.map((r) => {
        const o = new RObject();
        for (const [k, v] of r.bindings) o.set(k, v);
        return o;
      });
    }
    this.send(c.res, 200, out, c.pretty);
  }

  // -------------------------------------------------------------------------------------------
  // Health, metrics, index

  private health(c: Ctx): void {
    const check = splitPath(c.rest);
    if (check.length === 0) {
      this.send(c.res, 200, {}, false);
      return;
    }
    if (check.length === 1 && check[0] === 'ready' && this.closing) {
      this.send(c.res, 500, { error: 'shutting down' }, false);
      return;
    }
    const path = ['system', 'health', ...check];
    const query = dataRef(path);
    // Without a data.system.health policy, live and ready mean "the process serves requests".
    if (!hasRulesAt(this.runtime.rulePaths(), path) && check.length === 1 && (check[0] === 'live' || check[0] === 'ready')) {
      this.send(c.res, 200, {}, false);
      return;
    }
    let value: Value | undefined;
    try {
      value = this.evaluate(c, this.prepare(query), healthInput(), 'health').results[0]?.expressions[0]?.value;
    } catch (e) {
      this.send(c.res, 500, { error: e instanceof ApiError ? e.message : String(e) }, false);
      return;
    }
    if (value === true) this.send(c.res, 200, {}, false);
    else if (value === undefined) this.send(c.res, 500, { error: `health check (${query}) was undefined` }, false);
    else this.send(c.res, 500, { error: `health check (${query}) returned unexpected value` }, false);
  }

  private async prometheus(c: Ctx): Promise<void> {
    const text = await this.o.metrics.registry.metrics();
    if (this.closing) c.res.setHeader('Connection', 'close');
    c.res.writeHead(200, { 'Content-Type': this.o.metrics.registry.contentType, 'Content-Length': Buffer.byteLength(text) });
    c.res.end(text);
  }

  private index(c: Ctx): void {
    this.send(
      c.res,
      200,
      {
        name: 'image-enforcer',
        version: this.o.version,
        webhook: 'POST /v0/data/io/k8s/image_policy/verify with an ImageReview',
        endpoints: ENDPOINTS,
      },
      true,
    );
  }
}

const MSG_PARSE_QUERY_EMPTY = 'error(s) occurred while parsing query: the query is empty';

function healthInput(): Value {
  const o = new RObject();
  o.set('plugin_state', new RObject());
  o.set('plugins_ready', true);
  return o;
}

