// Which form of a body, term or rule node runs: its closures (steps.ts), or, once it has run a
// few times, the JavaScript generated for it (codegen.ts).
//
// Generating is worth it only for code that runs often: a generated function costs about a
// tenth of a millisecond to parse and compile and saves around a microsecond per run. A server
// evaluates the same rules for every request; `image-enforcer eval` or a test run evaluates most
// of them once or twice. So everything starts on closures and is generated on its TIER_UP-th
// run (or a little later: see GenerationBudget). Both forms give the same answers; the
// conformance suite runs every case on each alone.
import type { CExpr, CTerm, RuleNode } from './compiled.js';
import { generateBody, generateEach, generateRules, generateTerm, type Each, type RulesFn } from './codegen.js';
import { MULTI, closureTier, singleFn, type SingleFn, type Step } from './steps.js';

/** Runs after which the generated form takes over. */
export const TIER_UP = 32;

/**
 * 'tiered' (the default) as above; 'generated' generates on first use and 'closures' never:
 * for tests and diagnosis. A mode applies to what is first used after it is set.
 */
export type Compilation = 'tiered' | 'generated' | 'closures';

let compilation: Compilation = 'tiered';

export function setCompilation(mode: Compilation): void {
  compilation = mode;
}

/** The form of one piece of code that runs now, counting runs until the generated form takes over. */
export class Tier<F> {
  private runs = 0;

  constructor(
    private fn: F,
    /** The generated form, or null when there is none (the closures keep running). */
    private readonly generate?: () => F | null,
  ) {
    // Nothing to switch to: stop counting.
    if (generate === undefined) this.runs = Infinity;
  }

  current(): F {
    if (this.runs < TIER_UP && ++this.runs === TIER_UP) {
      if (budget.spent()) this.runs--; // generate on a later run
      else this.fn = budget.measure(() => generated(this.generate!)) ?? this.fn;
    }
    return this.fn;
  }
}

/**
 * Generating is spread out over time: at most `ms` milliseconds of it per `windowMs`. Many pieces
 * reach TIER_UP in the same query (every body of a node with thousands of rules, or a whole
 * policy library at its 32nd decision); past the budget the rest waits for later runs, so no
 * single evaluation stalls for long.
 */
class GenerationBudget {
  private windowStart = -Infinity;
  private used = 0;

  constructor(
    private ms: number,
    private windowMs: number,
  ) {}

  /** Whether this window's budget is used up. */
  spent(): boolean {
    const now = performance.now();
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now;
      this.used = 0;
    }
    return this.used >= this.ms;
  }

  measure<T>(work: () => T): T {
    const t0 = performance.now();
    try {
      return work();
    } finally {
      this.used += performance.now() - t0;
    }
  }

  /** For tests: another budget, starting a new window. */
  reset(ms: number, windowMs: number): void {
    this.ms = ms;
    this.windowMs = windowMs;
    this.windowStart = -Infinity;
    this.used = 0;
  }
}

const budget = new GenerationBudget(10, 100);

/** Sets the generation budget (milliseconds per window) and starts a new window: for tests. */
export function setGenerationBudget(ms: number, windowMs: number): void {
  budget.reset(ms, windowMs);
}

function tier<F>(closures: () => F, generate: () => F | null): Tier<F> {
  switch (compilation) {
    case 'closures':
      return new Tier(closures());
    case 'generated':
      return new Tier(generated(generate) ?? closures());
    default:
      return new Tier(closures(), generate);
  }
}

/**
 * The generated form, or null. Policies nested deep enough to exhaust the stack while the source
 * is built or parsed (a RangeError) stay on closures, which handle them.
 */
function generated<F>(generate: () => F | null): F | null {
  try {
    return generate();
  } catch (e) {
    if (e instanceof RangeError) return null;
    throw e;
  }
}

const bodyTiers = new WeakMap<CExpr[], Tier<Step>>();

/** A body (cached per body). */
export function bodyTier(body: CExpr[]): Tier<Step> {
  let t = bodyTiers.get(body);
  if (t === undefined) {
    t = tier(
      () => closureTier.chain(body, 0),
      () => generateBody(body, closureTier),
    );
    bodyTiers.set(body, t);
  }
  return t;
}

const termTiers = new WeakMap<CTerm, Tier<SingleFn>>();

/** The single-value function of a term outside bodies: a rule's value (cached per term). */
export function termTier(term: CTerm): Tier<SingleFn> {
  let t = termTiers.get(term);
  if (t === undefined) {
    t = tier(
      () => singleFn(term),
      () => generateTerm(term, closureTier),
    );
    termTiers.set(term, t);
  }
  return t;
}

const eachTiers = new WeakMap<CExpr[], Tier<Each>>();

/** The values of a term over the solutions of a body: comprehensions, partial sets (cached per body). */
export function eachTier(body: CExpr[], term: CTerm): Tier<Each> {
  let t = eachTiers.get(body);
  if (t === undefined) {
    t = tier(
      () => closureEach(body, term),
      () => generateEach(body, term, closureTier),
    );
    eachTiers.set(body, t);
  }
  return t;
}

function closureEach(body: CExpr[], term: CTerm): Each {
  const step = closureTier.chain(body, 0);
  const single = singleFn(term);
  return (ev, f, fn) => {
    step(ev, f, () => {
      const v = single(ev, f);
      if (v === MULTI) return ev.evalTerm(term, f, (x) => (fn(x), false));
      if (v !== undefined) fn(v);
      return false;
    });
  };
}

/**
 * The rules at a node (complete rules and functions), or null while the evaluator's own code
 * runs them: on closures, or when codegen does not take the node. Kept on the node by the caller.
 */
export function rulesTier(node: RuleNode): Tier<RulesFn | null> {
  return tier<RulesFn | null>(
    () => null,
    () => generateRules(node, closureTier),
  );
}
