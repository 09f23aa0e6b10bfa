import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { checkAlertExpr, parseExpr, resultType } from '../../../managers/monitoring/promql/parse.js'
import { PromqlError } from '../../../managers/monitoring/promql/errors.js'

function refusal (text: string): PromqlError {
  try {
    parseExpr(text)
  } catch (err) {
    if (err instanceof PromqlError) return err
    throw err
  }
  assert.fail(`${JSON.stringify(text)} was accepted`)
}

describe('PromQL parser', () => {
  it('accepts every supported construct', () => {
    for (const text of [
      '42', '-1.5e3', '0x1f', 'Inf', '-NaN', '1_000', '1m30s',
      'up', 'up{job="a"}', 'up{job!="a", instance=~"h.*", zone!~"x|y"}', '{__name__=~"mycel_.*"}', "up{job='single'}", 'up{job=`raw\\d`}',
      'rate(x[5m])', 'rate(x[1m30s])', 'rate(x[300])', 'increase(x[1h])', 'delta(x[2d])',
      '-up', '+up', 'up + 1', '1 - up', 'up * up', 'up / on(job) up', 'up % ignoring(instance) up', 'up ^ 2',
      'up == 1', 'up != bool 1', 'up > up', 'up < bool on(a) up', 'up >= 1', 'up <= 1', '1 == bool 2',
      'up and on(job) down', 'up or down', 'up unless ignoring(a, b) down',
      'sum(up)', 'sum by (job) (up)', 'sum(up) by (job)', 'sum without (instance) (up)', 'avg(up) without (a)',
      'min(up)', 'max(up)', 'count(up)', 'stddev(up)', 'stdvar(up)', 'group(up)',
      'absent(up{job="a"})', 'time()', 'vector(1)', 'scalar(up)', 'abs(up)', 'clamp_min(up, 0)', 'clamp_max(up, 1)', 'clamp(up, 0, 1)',
      'avg_over_time(x[5m])', 'min_over_time(x[5m])', 'max_over_time(x[5m])', 'count_over_time(x[5m])', 'sum_over_time(x[5m])',
      'last_over_time(x[5m])', 'absent_over_time(x[5m])', 'ceil(up)', 'floor(up)', 'sqrt(up)',
      '((up))', 'sum by (job) (rate(x[5m])) / on(job) sum by (job) (rate(y[5m])) > 0.1',
      'up # a comment', 'up\n  and\n down', '{"quoted.name"}', '{"quoted.name", "a.b"="c"}'
    ]) {
      assert.doesNotThrow(() => parseExpr(text), text)
    }
  })

  it('builds the typed tree', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(parseExpr('sum by (job) (rate(x{a=~"b"}[1m30s])) > bool 2'), (k, v) => k === 'span' ? undefined : v)), {
      kind: 'binary',
      op: '>',
      returnBool: true,
      lhs: {
        kind: 'aggregate',
        op: 'sum',
        grouping: { without: false, labels: ['job'] },
        expr: { kind: 'call', func: 'rate', args: [{ kind: 'matrixSelector', rangeMs: 90_000, selector: { kind: 'vectorSelector', matchers: [{ name: '__name__', type: '=', value: 'x' }, { name: 'a', type: '=~', value: 'b' }] } }] }
      },
      rhs: { kind: 'number', value: 2 }
    })
    const sel = parseExpr('x{a="\\n\\u00e9\\x41"}')
    assert.equal(sel.kind === 'vectorSelector' && sel.matchers[1].value, '\né\x41')
  })

  it('compiles regex matchers fully anchored, RE2 spellings translated', () => {
    const m = (text: string): ((v: string) => boolean) => {
      const e = parseExpr(text)
      assert.ok(e.kind === 'vectorSelector')
      return e.matchers[1].matches
    }
    assert.equal(m('x{a=~"b"}')('abc'), false)
    assert.equal(m('x{a=~"b.*"}')('b\nc'), true, '. matches a newline (Prometheus 3)')
    assert.equal(m('x{a=~"(?i)abc"}')('ABC'), true)
    assert.equal(m('x{a=~"(?P<n>a)\\\\-"}')('a-'), true)
    assert.equal(m('x{a!~"b|c"}')('c'), false)
    assert.equal(m('x{a!~"b|c"}')('bc'), true)
    assert.equal(m('x{a=~"[]a]+"}')(']a'), true, 'a leading ] in a class is literal, as in RE2')
    assert.equal(m('x{a=~`\\_\\.`}')('_.'), true, 'RE2 takes any escaped punctuation')
  })

  // [text, reason pattern, line, column]
  const refusals: ReadonlyArray<[string, RegExp, number, number]> = [
    ['up{', /^syntax error at line 1 column 4 at end of input/, 1, 4],
    ['up +', /^syntax error/, 1, 5],
    ['sum(up) by', /^syntax error/, 1, 11],
    ['up\n  and )', /^syntax error at line 2 column 7 near '\)'/, 2, 7],
    ['foo(up)', /unknown function 'foo'/, 1, 1],
    ['histogram_quantile(0.9, up)', /unsupported function 'histogram_quantile'/, 1, 1],
    ['label_replace(up, "a", "b", "c", "d")', /unsupported function 'label_replace'/, 1, 1],
    ['rate(x[5m:1m])', /subqueries are not supported/, 1, 7],
    ['up offset 5m', /offset is not supported/, 1, 4],
    ['up @ 100', /@ modifier is not supported/, 1, 4],
    ['up + on(a) group_left(b) down', /group_left\/group_right are not supported/, 1, 12],
    ['up * on(a) group_right down', /group_left\/group_right are not supported/, 1, 12],
    ['topk(3, up)', /aggregation 'topk' is not supported/, 1, 1],
    ['quantile(0.5, up)', /aggregation 'quantile' is not supported/, 1, 1],
    ['count_values("v", up)', /aggregation 'count_values' is not supported/, 1, 1],
    ['up atan2 up', /operator 'atan2' is not supported/, 1, 4],
    ['"text"', /string literals are not supported/, 1, 1],
    ['up > "1"', /string literals are not supported/, 1, 6],
    ['rate(up)', /expected type range vector in call to function 'rate', got instant vector/, 1, 6],
    ['abs(up[5m])', /expected type instant vector in call to function 'abs', got range vector/, 1, 5],
    ['clamp_min(up, up)', /expected type scalar/, 1, 15],
    ['rate(x[5m], 1)', /expected 1 argument\(s\) in call to 'rate', got 2/, 1, 1],
    ['time(1)', /expected 0 argument\(s\)/, 1, 1],
    ['sum(1)', /expected type instant vector in aggregation expression, got scalar/, 1, 5],
    ['sum(up, up)', /wrong number of arguments/, 1, 1],
    ['1 > 2', /comparisons between scalars must use BOOL modifier/, 1, 3],
    ['up + bool 1', /bool modifier can only be used on comparison operators/, 1, 4],
    ['up and 1', /set operator 'and' not allowed in binary scalar expression/, 1, 1],
    ['up + on(a) 1', /vector matching only allowed between instant vectors/, 1, 1],
    ['up[5m] + 1', /binary expression must contain only scalar and instant vector types/, 1, 1],
    ['-(up[5m])', /unary expression only allowed/, 1, 1],
    ['(up)[5m]', /ranges only allowed for vector selectors/, 1, 1],
    ['up[5m+1m]', /only a literal duration/, 1, 4],
    ['up[0s]', /range must be greater than 0/, 1, 4],
    ['{}', /at least one non-empty matcher/, 1, 1],
    ['{a="", b=~".*"}', /at least one non-empty matcher/, 1, 1],
    ['up{__name__="down"}', /metric name must not be set twice/, 1, 4],
    ['up{a=~"(a+)+"}', /nested unbounded quantifiers/, 1, 4],
    ['up{a=~"(x*y)*z"}', /nested unbounded quantifiers/, 1, 4],
    ['up{a=~"(?=a)"}', /lookaround/, 1, 4],
    ['up{a=~"(a)\\\\1"}', /backreferences/, 1, 4],
    ['up{a=~"a(?s)b"}', /inline flags/, 1, 4],
    ['up{a=~"[[:alpha:]]"}', /POSIX character classes/, 1, 4],
    ['up{a=~"(a"}', /unbalanced parenthesis/, 1, 4],
    ['up{a=~`\\q`}', /invalid regular expression/, 1, 4],
    ['up{a="\\q"}', /invalid escape/, 1, 6],
    ['x'.repeat(20_000), /longer than/, 1, 1]
  ]
  for (const [text, reason, line, column] of refusals) {
    it(`refuses ${JSON.stringify(text.slice(0, 40))} with its position and reason`, () => {
      const err = refusal(text)
      assert.match(err.reason, reason)
      assert.deepEqual([err.position.line, err.position.column], [line, column], err.message)
      assert.equal(err.status, 400)
    })
  }

  it('types expressions; an alert expression must give an instant vector or a scalar', () => {
    assert.equal(resultType(parseExpr('1 + 1')), 'scalar')
    assert.equal(resultType(parseExpr('up + 1')), 'vector')
    assert.equal(resultType(parseExpr('scalar(up)')), 'scalar')
    assert.equal(resultType(parseExpr('up[5m]')), 'matrix')
    assert.doesNotThrow(() => { checkAlertExpr(parseExpr('up == 0'), 'up == 0') })
    assert.doesNotThrow(() => { checkAlertExpr(parseExpr('1'), '1') })
    const text = '\n  up[5m]'
    assert.throws(() => { checkAlertExpr(parseExpr(text), text) }, (err: unknown) =>
      err instanceof PromqlError && /must return an instant vector/.test(err.reason) && err.position.line === 2 && err.position.column === 3)
  })

  it('throws nothing but PromqlError on arbitrary text', () => {
    const tokens = fc.constantFrom('up', 'x', '{', '}', '(', ')', '[', ']', '5m', '1', '"a"', '=~', '=', '!=', ',', '+', '-', '*', '/', '>', '==', 'bool',
      'and', 'or', 'unless', 'on', 'ignoring', 'by', 'without', 'sum', 'rate', 'absent', 'offset', '@', ':', 'group_left', '"(a+)+"', '"\\\\"', '\n', ' ', 'NaN')
    fc.assert(fc.property(fc.oneof(fc.string(), fc.array(tokens, { maxLength: 12 }).map(t => t.join(''))), text => {
      try {
        parseExpr(text)
      } catch (err) {
        if (!(err instanceof PromqlError)) throw err
      }
    }), { numRuns: 3000 })
  })
})
