// The decision log line is written out field by field (decision-log.ts) for speed; these cases
// hold it against the generic serialiser applied to the same line as an object, which is how
// OPA-shaped JSON is produced everywhere else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecisionLogger, type Decision } from '../src/server/decision-log.js';
import { RObject, RSet, parseJSON, stringifyJSON, type Value } from '../src/rego/value.js';

const labels = { app: 'image-enforcer', version: '0.1.0' };

/** The line as the generic serialiser writes it, with the logger's own timestamp. */
function expected(d: Decision, timestamp: string): string {
  const line = {
    level: 'info',
    msg: 'Decision Log',
    decision_id: d.decisionId,
    labels,
    path: d.path,
    input: d.input,
    result: d.result,
    erased: d.erased,
    masked: d.masked,
    error: d.error,
    requested_by: d.requestedBy,
    timestamp,
    metrics: { timer_rego_query_eval_ns: d.evalNs, timer_server_handler_ns: d.handlerNs },
    duration_ms: Number(d.handlerNs) / 1e6,
    type: 'openpolicyagent.org/decision_logs',
  };
  return stringifyJSON(line, 0, false) + '\n';
}

function logged(d: Decision): string {
  const lines: string[] = [];
  new DecisionLogger({ write: (s: string) => lines.push(s) > 0 }, labels).log(d);
  assert.equal(lines.length, 1);
  return lines[0];
}

const base: Decision = {
  decisionId: '3b2a7c4e-0000-4000-8000-000000000000',
  path: 'io/k8s/image_policy/verify',
  requestedBy: '127.0.0.1:51234',
  evalNs: 12_345n,
  handlerNs: 67_891n,
};

const odd = new RObject();
odd.set(1, 'one');
odd.set('<tag>', 'a & b \u2028 "quoted" \\ é 😀');
odd.set('big', 123456789012345678901234567890n);
odd.set('set', RSet.from(['b', 'a', 3]));
odd.set('float', 0.1);

const cases: Array<[string, Partial<Decision>]> = [
  ['input and result', { input: parseJSON('{"kind":"ImageReview","spec":{"containers":[{"image":"alpine:3.5"}]}}'), result: parseJSON('{"status":{"allowed":true}}') }],
  ['no input, undefined result', {}],
  ['null input, false result', { input: null, result: false }],
  ['an error instead of a result', { input: parseJSON('[1, 2.5, "x"]'), error: { code: 'internal_error', message: 'error(s) occurred <while> evaluating' } }],
  ['odd keys, strings, numbers and sets', { input: odd, result: odd as Value }],
  ['masked by data.system.log.mask', { input: parseJSON('{"spec":{}}'), result: true, erased: ['/input/spec/namespace'], masked: ['/result', '/input/a"b'] }],
  ['odd path and client', { path: 'a/"b"/\u00e9', requestedBy: '[::1]:8181' }],
  ['whole-millisecond and large durations', { evalNs: 0n, handlerNs: 3_000_000n }],
  ['a long evaluation', { evalNs: 98_765_432_109n, handlerNs: 98_765_432_110n }],
];

for (const [name, extra] of cases) {
  test(`decision log line: ${name}`, () => {
    const d: Decision = { ...base, ...extra };
    const line = logged(d);
    const timestamp = (JSON.parse(line) as { timestamp: string }).timestamp;
    assert.match(timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(line, expected(d, timestamp));
  });
}

test('decision log timestamps follow the clock', async () => {
  const lines: string[] = [];
  const logger = new DecisionLogger({ write: (s: string) => lines.push(s) > 0 }, labels);
  logger.log(base);
  await new Promise((r) => setTimeout(r, 5));
  logger.log(base);
  const [a, b] = lines.map((l) => Date.parse((JSON.parse(l) as { timestamp: string }).timestamp));
  assert.ok(b > a, `${b} should be after ${a}`);
});

test('a sink that throws does not fail the decision', () => {
  const logger = new DecisionLogger(
    {
      write: () => {
        throw new Error('EPIPE');
      },
    },
    labels,
  );
  assert.doesNotThrow(() => logger.log(base));
});
