// Compares the builtins image-enforcer declares (`image-enforcer capabilities`) with the builtin
// names of OPA's current release (test/fixtures/opa-builtins-v1.20.2.txt, taken from OPA's
// capabilities/v1.20.2.json). Every OPA builtin must be present unless it is listed below with a
// reason, and we must not declare names OPA does not have unless listed as our own extensions.
// The test fails when a builtin disappears, when an omitted one gets implemented (so the list
// and docs/builtins.md stay honest), and when either list names something unknown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { capabilities } from '../src/rego/capabilities.js';
import { projectRoot } from './helpers/paths.js';

/**
 * OPA builtins we deliberately do not provide, each with the reason (repeated in
 * docs/builtins.md, which the README links to).
 */
export const DELIBERATELY_OMITTED: Readonly<Record<string, string>> = {
  // Only meaningful inside an OPA deployment: it signs requests with AWS credentials that OPA's
  // own configuration supplies (environment, profiles, IMDS), and its main use is to build
  // http.send requests to AWS APIs from policies, which an admission policy should not do.
  'providers.aws.sign_req': 'signs requests with AWS credentials from an OPA deployment; out of scope for admission policies',
  // GraphQL schema parsing and query validation (a full GraphQL parser and validator, gqlparser
  // in OPA) has no use in deciding which container images may run.
  'graphql.is_valid': 'GraphQL parsing/validation is unrelated to image admission and needs a full GraphQL implementation',
  'graphql.parse': 'GraphQL parsing/validation is unrelated to image admission and needs a full GraphQL implementation',
  'graphql.parse_and_verify': 'GraphQL parsing/validation is unrelated to image admission and needs a full GraphQL implementation',
  'graphql.parse_query': 'GraphQL parsing/validation is unrelated to image admission and needs a full GraphQL implementation',
  'graphql.parse_schema': 'GraphQL parsing/validation is unrelated to image admission and needs a full GraphQL implementation',
  'graphql.schema_is_valid': 'GraphQL parsing/validation is unrelated to image admission and needs a full GraphQL implementation',
};

/** Names we declare that OPA does not (none today; add our own extensions here with a reason). */
export const OUR_EXTENSIONS: Readonly<Record<string, string>> = {};


const opaNames = readFileSync(join(projectRoot(), 'test', 'fixtures', 'opa-builtins-v1.20.2.txt'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '');
const ours = capabilities().builtins.map((b) => b.name);
const ourSet = new Set(ours);
const opaSet = new Set(opaNames);

test('the OPA name list is a plausible, sorted, duplicate-free list', () => {
  // A truncated or mangled fixture would make the other checks meaningless.
  assert.ok(opaNames.length > 200, `only ${opaNames.length} names`);
  assert.deepEqual([...opaNames].sort(), opaNames);
  assert.equal(opaSet.size, opaNames.length);
  for (const n of ['count', 'http.send', 'io.jwt.decode_verify', 'time.now_ns', 'walk', 'internal.member_2']) assert.ok(opaSet.has(n), n);
});

test('every OPA builtin is implemented unless deliberately omitted', () => {
  const missing = opaNames.filter((n) => !ourSet.has(n) && !(n in DELIBERATELY_OMITTED));
  assert.deepEqual(missing, [], `OPA builtins missing without a reason: ${missing.join(', ')}`);
});

test('deliberately omitted builtins are real OPA builtins that we really do not have', () => {
  for (const [name, reason] of Object.entries(DELIBERATELY_OMITTED)) {
    assert.ok(opaSet.has(name), `${name} is not an OPA builtin`);
    assert.ok(!ourSet.has(name), `${name} is implemented now: remove it from DELIBERATELY_OMITTED and docs/builtins.md`);
    assert.ok(reason.length > 10, `${name} needs a reason`);
  }
});

test('we declare no builtin OPA does not have, except listed extensions', () => {
  const extra = ours.filter((n) => !opaSet.has(n) && !(n in OUR_EXTENSIONS));
  assert.deepEqual(extra, [], `names OPA does not have: ${extra.join(', ')}`);
  for (const name of Object.keys(OUR_EXTENSIONS)) assert.ok(ourSet.has(name), `extension ${name} is not declared`);
});

test('capabilities names are unique and sorted', () => {
  assert.equal(ourSet.size, ours.length);
  assert.deepEqual([...ours].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), ours);
});

test('counts add up', () => {
  const implemented = opaNames.filter((n) => ourSet.has(n)).length;
  assert.equal(implemented + Object.keys(DELIBERATELY_OMITTED).length, opaNames.length);
});

test('docs/builtins.md names every deliberately omitted builtin', () => {
  const doc = readFileSync(join(projectRoot(), 'docs', 'builtins.md'), 'utf8');
  for (const name of Object.keys(DELIBERATELY_OMITTED)) assert.ok(doc.includes('`' + name + '`'), `docs/builtins.md does not mention ${name}`);
});
