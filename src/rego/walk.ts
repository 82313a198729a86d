// One traversal of the compiled form, shared by the compiler's analyses and the query API.
import type { CExpr, CTerm } from './compiled.js';

/**
 * Calls `fn` on every term in `x` (pre-order). Returning false from `fn` skips that term's
 * children. With `intoBodies` false, comprehension and `every` bodies (and comprehension heads)
 * are not entered: only what the enclosing expression evaluates itself.
 */
export function forEachTerm(x: CTerm | CExpr, fn: (t: CTerm) => void | boolean, intoBodies = true): void {
  const term = (t: CTerm): void => {
    if (fn(t) === false) return;
    switch (t.t) {
      case 'ref':
        if (t.head) term(t.head);
        t.path.forEach(term);
        return;
      case 'array':
      case 'set':
        t.items.forEach(term);
        return;
      case 'object':
        for (const [k, v] of t.items) {
          term(k);
          term(v);
        }
        return;
      case 'compr':
        if (!intoBodies) return;
        term(t.term);
        t.body.forEach(expr);
        return;
      case 'ocompr':
        if (!intoBodies) return;
        term(t.key);
        term(t.value);
        t.body.forEach(expr);
        return;
      case 'call':
        t.call.args.forEach(term);
        return;
      default:
        return;
    }
  };
  const expr = (e: CExpr): void => {
    for (const w of e.withs) term(w.value);
    switch (e.k) {
      case 'unify':
        term(e.a);
        term(e.b);
        return;
      case 'call':
        e.call.args.forEach(term);
        if (e.out) term(e.out);
        return;
      case 'term':
        term(e.term);
        return;
      case 'somein':
        term(e.domain);
        if (e.key) term(e.key);
        term(e.value);
        return;
      case 'every':
        term(e.domain);
        if (e.key) term(e.key);
        term(e.value);
        if (intoBodies) e.body.forEach(expr);
        return;
      case 'nop':
        return;
    }
  };
  if ('k' in x) expr(x);
  else term(x);
}
