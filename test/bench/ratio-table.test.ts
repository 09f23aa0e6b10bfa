/** bench/lib/ratio-table.ts: the cost table's ratios, goals and layout. */
import assert from 'node:assert/strict'
import { allOf, atMost, atMostTimesAnchor, formatRatioTable, ratioOf, rowCells } from '../../bench/lib/ratio-table.js'

describe('bench/lib/ratio-table', () => {
  it('ratio is mycel ÷ anchor, none without two numbers or with an anchor of 0', () => {
    assert.equal(ratioOf(3, 1.5), 2)
    assert.equal(ratioOf(3, 0), undefined)
    assert.equal(ratioOf('failed', 1), undefined)
    assert.equal(ratioOf(1, '—'), undefined)
  })

  it('goals: relative to the anchor, absolute, and both', () => {
    const twice = atMostTimesAnchor(2, 'Serf')
    assert.equal(twice.text, '≤ 2× Serf\'s')
    assert.equal(twice.met(3.6, 1.8), true)
    assert.equal(twice.met(3.7, 1.8), false)
    assert.equal(twice.met(1, undefined), false, 'no anchor, not met')
    assert.equal(atMostTimesAnchor(1, 'Serf').text, '≤ Serf\'s')
    assert.equal(atMost(90, 'MB').text, '≤ 90 MB')
    assert.equal(atMost(5, '%').text, '≤ 5 %')
    const detection = allOf(atMostTimesAnchor(0.3, 'Serf'), atMost(2, 's'))
    assert.equal(detection.text, '≤ 0.3× Serf\'s and ≤ 2 s')
    assert.equal(detection.met(1.9, 10), true)
    assert.equal(detection.met(2.5, 10), false, 'under 0.3× but over 2 s')
    assert.equal(detection.met(1.5, 4), false, 'under 2 s but over 0.3×')
  })

  it('a row: values with unit and digits, the ratio, the goal and whether it is met', () => {
    assert.deepEqual(rowCells({ measure: 'idle CPU', unit: '%', mycel: 3.07, anchor: 0.36, goal: atMostTimesAnchor(1, 'Serf') }),
      ['idle CPU', '3.07 %', '0.36 %', '8.53×', '≤ Serf\'s', 'no'])
    assert.deepEqual(rowCells({ measure: 'RSS', unit: 'MB', digits: 0, mycel: 85.4, anchor: 14.2, goal: atMost(90, 'MB') }),
      ['RSS', '85 MB', '14 MB', '6.01×', '≤ 90 MB', 'yes'])
    assert.deepEqual(rowCells({ measure: 'floor', unit: 'MB', digits: 0, mycel: 39, anchor: '—' }),
      ['floor', '39 MB', '—', '—', '—', '—'])
    assert.deepEqual(rowCells({ measure: 'join 50', unit: 's', digits: 1, mycel: 'failed', anchor: 1.04, goal: atMost(10, 's') }),
      ['join 50', 'failed', '1.0 s', '—', '≤ 10 s', 'no'], 'a failed measure does not meet its goal')
  })

  it('formats a padded Markdown table', () => {
    const table = formatRatioTable([
      { measure: 'join', unit: 's', digits: 1, mycel: 13.6, anchor: 1.8, goal: atMostTimesAnchor(2, 'Serf') },
      { measure: 'RSS per agent', unit: 'MB', digits: 0, mycel: 155, anchor: 14, goal: atMost(90, 'MB') }
    ], 'serf')
    assert.equal(table, [
      '| measure       | mycel  | serf  | ratio  | goal        | met? |',
      '|---------------|--------|-------|--------|-------------|------|',
      '| join          | 13.6 s | 1.8 s | 7.56×  | ≤ 2× Serf\'s | no   |',
      '| RSS per agent | 155 MB | 14 MB | 11.07× | ≤ 90 MB     | no   |',
      ''
    ].join('\n'))
  })
})
