// Runs the Rego conformance cases under test/conformance/**.yaml (OPA's YAML test-case format:
// note, query, modules, data, input, want_result, want_error_code, want_error, strict_error,
// sort_bindings, skip). Set CONFORMANCE_FILTER=<substring> to run only matching files or notes.
//
// Every case runs three times: with everything generated as JavaScript from the first run, with
// the closure tier alone, which the generated code hands unusual expressions to (the engine
// starts on closures and generates what runs often, see src/rego/tiers.ts), and generated with
// the markers of `test --coverage` in every body (src/rego/coverage.ts). All must give the
// case's answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import YAML from 'yaml';
import { compilePolicies, prepareQuery } from '../src/rego/index.js';
import { RegoError, RegoErrors } from '../src/rego/errors.js';
import { fromJSON, stringifyJSON, toJSON, type Value } from '../src/rego/value.js';
import { parseTerm } from '../src/rego/parser.js';
import { setCompilation } from '../src/rego/tiers.js';
import { Coverage } from '../src/rego/coverage.js';
import { projectRoot } from './helpers/paths.js';

interface Case {
  note: string;
  query: string;
  modules?: string[];
  data?: unknown;
  input?: unknown;
  input_term?: string;
  want_result?: Array<Record<string, unknown>>;
  want_error_code?: string;
  want_error?: string;
  strict_error?: boolean;
  sort_bindings?: boolean;
  skip?: boolean | string;
}


function yamlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...yamlFiles(p));
    else if (/\.ya?ml$/.test(name)) out.push(p);
  }
  return out;
}

const root = projectRoot();
const casesDir = join(root, 'test', 'conformance');
const filter = process.env.CONFORMANCE_FILTER ?? '';

function normalise(v: unknown): string {
  return stringifyJSON(toJSON(fromJSON(v)));
}

function errorOf(e: unknown): { code: string; message: string } | undefined {
  if (e instanceof RegoErrors) return { code: e.errors[0].code, message: e.errors.map((x) => x.message).join('\n') };
  if (e instanceof RegoError) return { code: e.code, message: e.message };
  return undefined;
}

/** Runs one case; `covered`: with test-coverage markers in every body, which must change nothing. */
export function runCase(c: Case, covered = false): void {
  let results: Array<Record<string, unknown>>;
  try {
    const policy = compilePolicies((c.modules ?? []).map((text, i) => ({ file: `module-${i}.rego`, text })));
    if (covered) new Coverage().instrument(policy);
    const q = prepareQuery(policy, c.query);
    let input: Value | undefined = c.input === undefined ? undefined : fromJSON(c.input);
    if (c.input_term !== undefined) {
      const ip = prepareQuery(policy, `__x = ${c.input_term}`);
      input = ip.eval({}).results[0]?.bindings.get('__x');
      void parseTerm;
    }
    const out = q.eval({ input, data: fromJSON(c.data ?? {}), strictBuiltinErrors: c.strict_error ?? false });
    results = out.results.map((r) => {
      const o: Record<string, unknown> = {};
      for (const [k, v] of r.bindings) o[k] = toJSON(v);
      return o;
    });
  } catch (e) {
    const got = errorOf(e);
    if (!got) throw e;
    if (c.want_error_code === undefined && c.want_error === undefined) {
      assert.fail(`unexpected error: ${got.message}`);
    }
    if (c.want_error_code !== undefined) assert.equal(got.code, c.want_error_code, got.message);
    if (c.want_error !== undefined) assert.ok(got.message.includes(c.want_error), `error "${got.message}" does not contain "${c.want_error}"`);
    return;
  }
  if (c.want_error_code !== undefined || c.want_error !== undefined) {
    assert.fail(`expected error ${c.want_error_code ?? ''} ${c.want_error ?? ''}, got results ${stringifyJSON(results)}`);
  }
  const want = (c.want_result ?? []).map((r) => normalise(r ?? {}));
  const got = results.map((r) => normalise(r));
  if (c.sort_bindings) {
    want.sort();
    got.sort();
  }
  assert.deepEqual(got, want);
}

for (const file of yamlFiles(casesDir)) {
  const rel = relative(casesDir, file);
  let doc: { cases?: Case[] } | null;
  try {
    doc = YAML.parse(readFileSync(file, 'utf8')) as { cases?: Case[] } | null;
  } catch (e) {
    test(rel, () => assert.fail(`${rel}: invalid YAML: ${(e as Error).message}`));
    continue;
  }
  const cases = (doc?.cases ?? []).filter((c) => !filter || rel.includes(filter) || c.note.includes(filter));
  if (cases.length === 0) continue;
  for (const mode of ['generated', 'closures', 'covered'] as const) {
    test(mode === 'generated' ? rel : `${rel} (${mode})`, async (t) => {
      for (const c of cases) {
        await t.test(c.note, { skip: c.skip ? String(c.skip) : false }, () => {
          // Bodies compile on first evaluation, within the case.
          setCompilation(mode === 'closures' ? 'closures' : 'generated');
          try {
            runCase(c, mode === 'covered');
          } finally {
            setCompilation('tiered');
          }
        });
      }
    });
  }
}
