// Prometheus metrics for the server (GET /metrics), on a registry of its own so that several
// servers in one process (tests) do not collide. Names follow OPA where OPA has one
// (http_request_duration_seconds with code/handler/method labels). What every request records
// goes through RequestHistogram and RequestCounter, which keep the per-request work to a lookup
// and an addition; the rest uses prom-client's classes directly.
import { Counter, Registry, collectDefaultMetrics, type Metric } from 'prom-client';

// Decisions take microseconds to milliseconds: buckets from 50µs to 10s.
const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** One label combination of a histogram: observations per bucket (not cumulative), sum and count. */
interface Series {
  labels: Record<string, string>;
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * What is kept per label combination, found by its values one label at a time (a map per
 * label): a lookup neither builds nor hashes a key string, and no two combinations can share
 * an entry whatever their values hold.
 */
class ByLabels<L extends string, T> {
  private readonly root = new Map<string, unknown>();
  private only: T | undefined; // the entry when there are no labels

  constructor(private readonly names: readonly L[]) {}

  get(labels: Record<L, string>): T | undefined {
    const names = this.names;
    if (names.length === 0) return this.only;
    let m = this.root;
    const last = names.length - 1;
    for (let i = 0; i < last; i++) {
      const next = m.get(labels[names[i]]) as Map<string, unknown> | undefined;
      if (next === undefined) return undefined;
      m = next;
    }
    return m.get(labels[names[last]]) as T | undefined;
  }

  set(labels: Record<L, string>, value: T): void {
    const names = this.names;
    if (names.length === 0) {
      this.only = value;
      return;
    }
    let m = this.root;
    const last = names.length - 1;
    for (let i = 0; i < last; i++) {
      let next = m.get(labels[names[i]]) as Map<string, unknown> | undefined;
      if (next === undefined) {
        next = new Map<string, unknown>();
        m.set(labels[names[i]], next);
      }
      m = next;
    }
    m.set(labels[names[last]], value);
  }

  clear(): void {
    this.root.clear();
    this.only = undefined;
  }
}

/** A sample as prom-client's registry reads it from a histogram. */
interface Sample {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
  exemplar?: null;
}

/**
 * A Prometheus histogram for the two observations made on every request. prom-client's
 * Histogram validates and hashes the label object and allocates about 1 KB per observation;
 * this one finds the series by the label values and adds one to a bucket. At scrape time it
 * hands the registry the same samples prom-client's Histogram would (test/server-metrics.test.ts
 * compares the two), so /metrics reads exactly as before.
 */
export class RequestHistogram<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  /** Every series, in the order first observed (the order /metrics prints them in). */
  private readonly series: Series[] = [];
  private readonly byLabels: ByLabels<L, Series>;

  constructor(
    readonly name: string,
    readonly help: string,
    labelNames: readonly L[],
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    this.byLabels = new ByLabels(labelNames);
    registry.registerMetric(this as unknown as Metric);
  }

  observe(labels: Record<L, string>, value: number): void {
    if (!Number.isFinite(value)) return; // durations always are; never let a metric fail a request
    let s = this.byLabels.get(labels);
    if (!s) {
      s = { labels: { ...labels }, buckets: new Array<number>(this.bounds.length).fill(0), sum: 0, count: 0 };
      this.byLabels.set(labels, s);
      this.series.push(s);
    }
    for (let i = 0; i < this.bounds.length; i++) {
      if (value <= this.bounds[i]) {
        s.buckets[i]++;
        break;
      }
    }
    s.sum += value;
    s.count++;
  }

  reset(): void {
    this.series.length = 0;
    this.byLabels.clear();
  }

  /** The registry's text exposition reads this (labels shared by a series kept apart, as prom-client does). */
  getForPromString(): { name: string; help: string; type: string; aggregator: string; values: Sample[] } {
    const values: Sample[] = [];
    for (const s of this.series) {
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += s.buckets[i];
        values.push({ labels: { le }, sharedLabels: s.labels, value: acc, metricName: `${this.name}_bucket`, exemplar: null });
      });
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_bucket`, exemplar: null },
        { labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum`, exemplar: undefined },
        { labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count`, exemplar: undefined },
      );
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** The registry's JSON reads this: each sample with all its labels together. */
  get(): { name: string; help: string; type: string; aggregator: string; values: Array<Omit<Sample, 'sharedLabels'>> } {
    const data = this.getForPromString();
    return { ...data, values: data.values.map(({ sharedLabels, labels, ...v }) => ({ ...v, labels: { ...labels, ...sharedLabels } })) };
  }
}

/**
 * Counts made on the request path for a prom-client Counter: an increment adds one under the
 * label values, and the counts reach the Counter (which validates, hashes and prints them) when
 * the registry reads it, through the Counter's collect hook. /metrics reads as if every
 * increment had gone to the Counter directly.
 */
export class RequestCounter<L extends string> {
  /** Every label combination counted, in the order first seen. */
  private readonly pending: Array<{ labels: Record<L, string>; n: number }> = [];
  private readonly byLabels: ByLabels<L, { labels: Record<L, string>; n: number }>;
  private readonly counter: Counter<L>;

  constructor(name: string, help: string, labelNames: readonly L[], registry: Registry) {
    this.byLabels = new ByLabels(labelNames);
    this.counter = new Counter<L>({ name, help, labelNames, registers: [registry], collect: () => this.flush() });
  }

  inc(labels: Record<L, string>): void {
    const p = this.byLabels.get(labels);
    if (p) p.n++;
    else {
      const q = { labels: { ...labels }, n: 1 };
      this.byLabels.set(labels, q);
      this.pending.push(q);
    }
  }

  private flush(): void {
    for (const p of this.pending) {
      if (p.n > 0) this.counter.inc(p.labels, p.n);
      p.n = 0;
    }
  }
}

export class ServerMetrics {
  readonly registry = new Registry();
  readonly httpDuration: RequestHistogram<'code' | 'handler' | 'method'>;
  readonly evalDuration: RequestHistogram<'handler'>;
  readonly decisions: RequestCounter<'handler' | 'outcome'>;
  readonly imageReviews: RequestCounter<'allowed'>;
  readonly badRequests: Counter<'handler' | 'reason'>;
  readonly policyUpdates: Counter<'operation' | 'outcome'>;
  readonly certReloads: Counter<'outcome'>;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.httpDuration = new RequestHistogram(
      'http_request_duration_seconds',
      'Time to answer an HTTP request, by handler, method and status code.',
      ['code', 'handler', 'method'],
      LATENCY_BUCKETS,
      this.registry,
    );
    this.evalDuration = new RequestHistogram(
      'image_enforcer_eval_duration_seconds',
      'Time spent evaluating policy queries, by handler.',
      ['handler'],
      LATENCY_BUCKETS,
      this.registry,
    );
    this.decisions = new RequestCounter(
      'image_enforcer_decisions_total',
      'Policy decisions, by handler and outcome (defined, undefined, error).',
      ['handler', 'outcome'],
      this.registry,
    );
    this.imageReviews = new RequestCounter(
      'image_enforcer_image_reviews_total',
      'ImageReview answers, by whether the images were allowed.',
      ['allowed'],
      this.registry,
    );
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
