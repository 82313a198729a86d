// Prometheus metrics for the server (GET /metrics), on a registry of its own so that several
// servers in one process (tests) do not collide. Names follow OPA where OPA has one
// (http_request_duration_seconds with code/handler/method labels).
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// Decisions take microseconds to milliseconds: buckets from 50µs to 10s.
const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class ServerMetrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'code' | 'handler' | 'method'>;
  readonly evalDuration: Histogram<'handler'>;
  readonly decisions: Counter<'handler' | 'outcome'>;
  readonly imageReviews: Counter<'allowed'>;
  readonly badRequests: Counter<'handler' | 'reason'>;
  readonly policyUpdates: Counter<'operation' | 'outcome'>;
  readonly certReloads: Counter<'outcome'>;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by handler, method and status code.',
      labelNames: ['code', 'handler', 'method'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.evalDuration = new Histogram({
      name: 'image_enforcer_eval_duration_seconds',
      help: 'Time spent evaluating policy queries, by handler.',
      labelNames: ['handler'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.decisions = new Counter({
      name: 'image_enforcer_decisions_total',
      help: 'Policy decisions, by handler and outcome (defined, undefined, error).',
      labelNames: ['handler', 'outcome'],
      registers,
    });
    this.imageReviews = new Counter({
      name: 'image_enforcer_image_reviews_total',
      help: 'ImageReview answers, by whether the images were allowed.',
      labelNames: ['allowed'],
      registers,
    });
    this.badRequests = new Counter({
      name: 'image_enforcer_bad_requests_total',
      help: 'Requests refused before evaluation, by handler and reason.',
      labelNames: ['handler', 'reason'],
      registers,
    });
    this.policyUpdates = new Counter({
      name: 'image_enforcer_policy_updates_total',
      help: 'Policy API writes and file reloads, by operation and outcome.',
      labelNames: ['operation', 'outcome'],
      registers,
    });
    this.certReloads = new Counter({
      name: 'image_enforcer_tls_certificate_reloads_total',
      help: 'TLS certificate reloads after the files changed, by outcome.',
      labelNames: ['outcome'],
      registers,
    });
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
