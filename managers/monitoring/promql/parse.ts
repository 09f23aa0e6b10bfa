/**
 * PromQL text to our typed `Expr` (ast.ts), on the official grammar:
 * `@prometheus-io/lezer-promql` parses, we walk its tree. Everything the
 * lezer grammar accepts but we do not evaluate is refused here, by name and
 * position, and so are the static type errors Prometheus's own parser
 * reports (e.g. `rate()` of an instant vector, a comparison of two scalars
 * without `bool`), so a rule file is refused when it is set, never when it
 * is first evaluated.
 */
import { parser } from '@prometheus-io/lezer-promql'
import { AGGREGATE_OPS, type AggregateOp, type BinaryOp, type Expr, type Grouping, type LabelMatcher, type Span, type ValueType, type VectorMatching, type VectorSelector } from './ast.js'
import { PromqlError, positionIn } from './errors.js'
import { parseNumber, unquoteString } from './literals.js'
import { compileLabelRegex, RegexRefusedError } from './regex.js'
import { FUNCTION_SIGNATURES, isSupportedFunction } from './signatures.js'
import type { Matcher } from '../types.js'

type SyntaxNode = ReturnType<typeof parser.parse>['topNode']

/** Longest expression we parse: a rule expression is a line or a few; this bounds the parser's work on hostile input. */
export const MAX_EXPR_LENGTH = 16_384

/** Label values whose regex answer one matcher remembers: a region's series, with room. */
const REGEX_MEMO_SIZE = 4096

const BINARY_OPS: Readonly<Record<string, BinaryOp>> = {
  Pow: '^', Mul: '*', Div: '/', Mod: '%', Add: '+', Sub: '-',
  Eql: '==', Neq: '!=', Gtr: '>', Lss: '<', Gte: '>=', Lte: '<=',
  And: 'and', Or: 'or', Unless: 'unless'
}
const COMPARISONS = new Set<BinaryOp>(['==', '!=', '>', '<', '>=', '<='])
const SET_OPS = new Set<BinaryOp>(['and', 'or', 'unless'])
const MATCH_OPS: Readonly<Record<string, Matcher['type']>> = { EqlSingle: '=', Neq: '!=', EqlRegex: '=~', NeqRegex: '!~' }

/** Constructs the grammar knows that we refuse, by node name. */
const UNSUPPORTED_NODES: Readonly<Record<string, string>> = {
  SubqueryExpr: 'subqueries are not supported',
  OffsetExpr: 'offset is not supported',
  StepInvariantExpr: 'the @ modifier is not supported',
  AnchoredExpr: 'the anchored modifier is not supported',
  SmoothedExpr: 'the smoothed modifier is not supported',
  StringLiteral: 'string literals are not supported here'
}

/** Parses a PromQL expression, or throws PromqlError with the position and reason. */
export function parseExpr (text: string): Expr {
  const fail = (from: number, to: number, reason: string): never => { throw new PromqlError(positionIn(text, from, to), reason) }
  if (text.length > MAX_EXPR_LENGTH) fail(0, 0, `expression longer than ${MAX_EXPR_LENGTH} characters`)
  const tree = parser.parse(text)
  let error: { from: number, to: number } | undefined
  tree.iterate({
    enter: n => {
      if (error !== undefined) return false
      if (n.type.isError) error = { from: n.from, to: n.to }
    }
  })
  if (error !== undefined) {
    const { line, column } = positionIn(text, error.from, error.to)
    const near = text.slice(error.from, error.from + 20).split('\n')[0]
    // The grammar knows every Prometheus function by name: an identifier called like one is not.
    const called = near.startsWith('(') ? /([A-Za-z_][A-Za-z0-9_:]*)\s*$/.exec(text.slice(0, error.from)) : null
    if (called !== null) fail(called.index, error.from, `unknown function '${called[1]}'`)
    fail(error.from, error.to, `syntax error at line ${line} column ${column} ${near === '' ? 'at end of input' : `near '${near}'`}`)
  }
  const top = tree.topNode.firstChild
  if (top === null) return fail(0, text.length, 'empty expression')
  return new Walker(text, fail).expr(top)
}

/** The type an expression evaluates to. */
export function resultType (expr: Expr): ValueType {
  switch (expr.kind) {
    case 'number': return 'scalar'
    case 'vectorSelector': return 'vector'
    case 'matrixSelector': return 'matrix'
    case 'unary': return resultType(expr.expr)
    case 'binary': return resultType(expr.lhs) === 'scalar' && resultType(expr.rhs) === 'scalar' ? 'scalar' : 'vector'
    case 'aggregate': return 'vector'
    case 'call': return FUNCTION_SIGNATURES[expr.func].returns
  }
}

/**
 * Refuses an expression an alerting rule cannot use: it must give an
 * instant vector or a scalar (Prometheus's rule engine reads a scalar as a
 * one-sample vector without labels). `text` is the expression's source,
 * for the position.
 */
export function checkAlertExpr (expr: Expr, text: string): void {
  const t = resultType(expr)
  if (t !== 'vector' && t !== 'scalar') {
    throw new PromqlError(positionIn(text, expr.span.from, expr.span.to), `expression must return an instant vector or a scalar, not a ${t === 'matrix' ? 'range vector' : t}`)
  }
}

const TYPE_NAMES: Readonly<Record<ValueType, string>> = { scalar: 'scalar', vector: 'instant vector', matrix: 'range vector' }

class Walker {
  constructor (private readonly text: string, private readonly fail: (from: number, to: number, reason: string) => never) {}

  private src (n: SyntaxNode): string { return this.text.slice(n.from, n.to) }
  private span (n: SyntaxNode): Span { return { from: n.from, to: n.to } }
  private refuse (n: SyntaxNode | Span, reason: string): never { return this.fail(n.from, n.to, reason) }

  private children (n: SyntaxNode): SyntaxNode[] {
    const out: SyntaxNode[] = []
    for (let c = n.firstChild; c !== null; c = c.nextSibling) out.push(c)
    return out
  }

  private child (n: SyntaxNode, index = 0): SyntaxNode {
    return this.children(n)[index] ?? this.refuse(n, `incomplete ${n.name}`)
  }

  private expectType (e: Expr, want: ValueType, what: string): void {
    const got = resultType(e)
    if (got !== want) this.refuse(e.span, `expected type ${TYPE_NAMES[want]} in ${what}, got ${TYPE_NAMES[got]}`)
  }

  expr (n: SyntaxNode): Expr {
    if (UNSUPPORTED_NODES[n.name] !== undefined) return this.refuse(this.modifierSpan(n), UNSUPPORTED_NODES[n.name])
    switch (n.name) {
      case 'ParenExpr': return this.expr(this.child(n))
      case 'NumberDurationLiteral': return this.number(n)
      case 'VectorSelector': return this.vectorSelector(n)
      case 'MatrixSelector': return this.matrixSelector(n)
      case 'UnaryExpr': return this.unary(n)
      case 'BinaryExpr': return this.binary(n)
      case 'AggregateExpr': return this.aggregate(n)
      case 'FunctionCall': return this.call(n)
      default: return this.refuse(n, `unsupported expression ${n.name}`)
    }
  }

  /** Where an unsupported modifier is: from its keyword (or the subquery's `[`) to the end. */
  private modifierSpan (n: SyntaxNode): Span {
    const parts = this.children(n)
    if (n.name === 'SubqueryExpr' && parts.length > 0) return { from: parts[0].to, to: n.to }
    const keyword = parts.find(p => ['Offset', 'At', 'Anchored', 'Smoothed'].includes(p.name))
    return keyword === undefined ? this.span(n) : { from: keyword.from, to: n.to }
  }

  private number (n: SyntaxNode): Expr {
    const text = this.src(n)
    const sign = text[0] === '-' ? -1 : 1
    const v = parseNumber(text.replace(/^[-+]/, ''))
    if (v === undefined) return this.refuse(n, `bad number or duration syntax '${text}'`)
    return { kind: 'number', value: sign * v, span: this.span(n) }
  }

  private string (n: SyntaxNode): string {
    try {
      return unquoteString(this.src(n))
    } catch (err) {
      return this.refuse(n, (err as Error).message)
    }
  }

  private vectorSelector (n: SyntaxNode): VectorSelector {
    const matchers: LabelMatcher[] = []
    let name: string | undefined
    for (const c of this.children(n)) {
      if (c.name === 'Identifier') {
        name = this.src(c)
        matchers.push(this.matcher(c, '__name__', '=', name))
        continue
      }
      for (const m of this.children(c)) {
        if (m.name === 'QuotedLabelName') {
          // `{"metric.name"}`: a quoted metric name (Prometheus 3).
          const value = this.string(this.child(m))
          if (name !== undefined) this.refuse(m, `metric name must not be set twice: '${name}' or '${value}'`)
          name = value
          matchers.push(this.matcher(m, '__name__', '=', value))
          continue
        }
        const [label, op, value] = this.children(m)
        if (label === undefined || op === undefined || value === undefined) return this.refuse(m, 'incomplete label matcher')
        const labelName = label.name === 'QuotedLabelName' ? this.string(this.child(label)) : this.src(label)
        if (labelName === '__name__' && name !== undefined) this.refuse(m, `metric name must not be set twice: '${name}' or '${this.string(value)}'`)
        const type = MATCH_OPS[this.child(op).name] ?? this.refuse(op, `unsupported match operator '${this.src(op)}'`)
        matchers.push(this.matcher(m, labelName, type, this.string(value)))
      }
    }
    // Prometheus refuses a selector that would select every series.
    if (matchers.every(m => m.matches(''))) this.refuse(n, 'vector selector must contain at least one non-empty matcher')
    return { kind: 'vectorSelector', matchers, span: this.span(n) }
  }

  private matcher (at: SyntaxNode, name: string, type: Matcher['type'], value: string): LabelMatcher {
    if (type === '=') return { name, type, value, matches: v => v === value }
    if (type === '!=') return { name, type, value, matches: v => v !== value }
    let re: RegExp
    try {
      re = compileLabelRegex(value)
    } catch (err) {
      if (err instanceof RegexRefusedError) return this.refuse(at, err.message)
      throw err
    }
    // Label values repeat at every evaluation: remember the answers (bounded).
    const memo = new Map<string, boolean>()
    const test = (v: string): boolean => {
      let hit = memo.get(v)
      if (hit === undefined) {
        if (memo.size >= REGEX_MEMO_SIZE) memo.clear()
        memo.set(v, hit = re.test(v))
      }
      return hit
    }
    return type === '=~' ? { name, type, value, matches: test } : { name, type, value, matches: v => !test(v) }
  }

  private matrixSelector (n: SyntaxNode): Expr {
    const [inner, duration] = this.children(n)
    if (inner === undefined || duration === undefined) return this.refuse(n, 'incomplete range selector')
    if (inner.name !== 'VectorSelector') {
      if (UNSUPPORTED_NODES[inner.name] !== undefined) this.expr(inner)
      return this.refuse(n, 'ranges only allowed for vector selectors')
    }
    const lit = duration.firstChild
    if (lit === null || lit.name !== 'NumberDurationLiteralInDurationContext' || lit.nextSibling !== null) {
      return this.refuse(duration, 'only a literal duration is supported as a range (no duration arithmetic or functions)')
    }
    const text = this.src(lit)
    // A duration, or (Prometheus 3) a number of seconds.
    const seconds = parseNumber(text)
    const rangeMs = seconds === undefined ? undefined : Math.round(seconds * 1000)
    if (rangeMs === undefined || !Number.isFinite(rangeMs)) return this.refuse(lit, `bad duration '${text}'`)
    if (rangeMs <= 0) return this.refuse(lit, 'range must be greater than 0')
    return { kind: 'matrixSelector', selector: this.vectorSelector(inner), rangeMs, span: this.span(n) }
  }

  private unary (n: SyntaxNode): Expr {
    const [op, operand] = this.children(n)
    if (op === undefined || operand === undefined) return this.refuse(n, 'incomplete unary expression')
    const expr = this.expr(operand)
    if (resultType(expr) === 'matrix') this.refuse(n, 'unary expression only allowed on expressions of type scalar or instant vector')
    return { kind: 'unary', op: this.src(op) === '-' ? '-' : '+', expr, span: this.span(n) }
  }

  private binary (n: SyntaxNode): Expr {
    const parts = this.children(n)
    const lhsNode = parts[0]
    const rhsNode = parts[parts.length - 1]
    const opNode = parts[1]
    if (parts.length < 3) return this.refuse(n, 'incomplete binary expression')
    const op = BINARY_OPS[opNode.name] ?? this.refuse(opNode, `operator '${this.src(opNode)}' is not supported`)
    const lhs = this.expr(lhsNode)
    const rhs = this.expr(rhsNode)
    let returnBool = false
    let matching: VectorMatching | undefined
    for (const m of parts.slice(2, -1)) {
      if (m.name === 'BoolModifier') returnBool = true
      else if (m.name === 'FillModifier') this.refuse(m, 'fill modifiers are not supported')
      else if (m.name === 'MatchingModifierClause') matching = this.matching(m)
    }
    const lt = resultType(lhs)
    const rt = resultType(rhs)
    if (returnBool && !COMPARISONS.has(op)) this.refuse(opNode, 'bool modifier can only be used on comparison operators')
    if (lt === 'matrix') this.refuse(lhs.span, 'binary expression must contain only scalar and instant vector types')
    if (rt === 'matrix') this.refuse(rhs.span, 'binary expression must contain only scalar and instant vector types')
    if (COMPARISONS.has(op) && !returnBool && lt === 'scalar' && rt === 'scalar') this.refuse(opNode, 'comparisons between scalars must use BOOL modifier')
    if (SET_OPS.has(op) && (lt === 'scalar' || rt === 'scalar')) this.refuse(n, `set operator '${op}' not allowed in binary scalar expression`)
    if (matching !== undefined && (lt !== 'vector' || rt !== 'vector')) {
      if (matching.labels.length > 0) this.refuse(n, 'vector matching only allowed between instant vectors')
      matching = undefined
    }
    return { kind: 'binary', op, lhs, rhs, returnBool, matching, span: this.span(n) }
  }

  private matching (n: SyntaxNode): VectorMatching {
    const parts = this.children(n)
    const group = parts.find(p => p.name === 'GroupLeft' || p.name === 'GroupRight')
    if (group !== undefined) this.refuse(group, 'group_left/group_right are not supported')
    return { on: parts[0]?.name === 'On', labels: this.groupingLabels(this.child(n, 1)) }
  }

  private groupingLabels (n: SyntaxNode): string[] {
    return this.children(n).map(l => l.name === 'QuotedLabelName' ? this.string(this.child(l)) : this.src(l))
  }

  private aggregate (n: SyntaxNode): Expr {
    let op: AggregateOp | undefined
    let grouping: Grouping | undefined
    let args: SyntaxNode[] = []
    for (const c of this.children(n)) {
      if (c.name === 'AggregateOp') {
        const name = this.src(c).toLowerCase()
        op = (AGGREGATE_OPS as readonly string[]).includes(name) ? name as AggregateOp : this.refuse(c, `aggregation '${name}' is not supported`)
      } else if (c.name === 'AggregateModifier') {
        grouping = { without: this.child(c).name === 'Without', labels: this.groupingLabels(this.child(c, 1)) }
      } else if (c.name === 'FunctionCallBody') {
        args = this.children(c)
      }
    }
    if (op === undefined) return this.refuse(n, 'incomplete aggregation')
    if (args.length !== 1) return this.refuse(n, `wrong number of arguments for aggregate expression provided, expected 1, got ${args.length}`)
    const expr = this.expr(args[0])
    this.expectType(expr, 'vector', 'aggregation expression')
    return { kind: 'aggregate', op, expr, grouping, span: this.span(n) }
  }

  private call (n: SyntaxNode): Expr {
    const id = this.child(n)
    const func = this.src(id)
    const sig = isSupportedFunction(func) ? FUNCTION_SIGNATURES[func] : this.refuse(id, `unsupported function '${func}'`)
    const body = this.children(n)[1]
    const argNodes = body === undefined ? [] : this.children(body)
    if (argNodes.length !== sig.args.length) {
      return this.refuse(n, `expected ${sig.args.length} argument(s) in call to '${func}', got ${argNodes.length}`)
    }
    const args = argNodes.map(a => this.expr(a))
    args.forEach((a, i) => { this.expectType(a, sig.args[i], `call to function '${func}'`) })
    return { kind: 'call', func, args, span: this.span(n) }
  }
}
