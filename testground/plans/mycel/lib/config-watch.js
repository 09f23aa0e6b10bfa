'use strict'
/**
 * A watch of one config namespace on this instance's agent (`GET /v1/config/:ns?watch=1`, server-sent
 * events: `snapshot`, then `set` / `delete`, and a final `dropped` when the agent ends the stream; see
 * docs/config.md "Watching"). Each event is handed on with the wall time its bytes arrived, so the case
 * times visibility by the agent's own change event rather than by polling.
 */
const http = require('http')

/** Incremental server-sent-events parser: text in, complete `{event, data}` out (comments dropped). */
class SseParser {
  constructor () {
    this.buf = ''
    this.event = 'message'
    this.data = []
  }

  /** @returns {Array<{event: string, data: string}>} the events this text completed */
  push (text) {
    this.buf += text
    const out = []
    let nl
    while ((nl = this.buf.indexOf('\n')) !== -1) {
      let line = this.buf.slice(0, nl)
      this.buf = this.buf.slice(nl + 1)
      if (line.endsWith('\r')) line = line.slice(0, -1)
      if (line === '') {
        if (this.data.length > 0) out.push({ event: this.event, data: this.data.join('\n') })
        this.event = 'message'
        this.data = []
        continue
      }
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon === -1 ? line : line.slice(0, colon)
      let value = colon === -1 ? '' : line.slice(colon + 1)
      if (value.startsWith(' ')) value = value.slice(1)
      if (field === 'event') this.event = value
      else if (field === 'data') this.data.push(value)
    }
    return out
  }
}

/**
 * Opens the watch. `onEvent({event, data}, at)` gets every event with `data` parsed as JSON and `at` the wall
 * ms its chunk arrived. Resolves once the agent answered 200 (the stream is open: its snapshot follows);
 * `ended` resolves with the reason when the stream ends for any cause other than `close()`.
 */
function watchConfig (apiPort, ns, onEvent) {
  let closing = false
  let endedResolve
  const ended = new Promise(resolve => { endedResolve = resolve })
  const end = (reason) => { if (!closing) endedResolve(reason) }
  let req
  const opened = new Promise((resolve, reject) => {
    req = http.get({ host: '127.0.0.1', port: apiPort, path: `/v1/config/${encodeURIComponent(ns)}?watch=1` }, res => {
      if (res.statusCode !== 200) {
        const chunks = []
        res.on('data', c => chunks.push(c))
        res.on('end', () => reject(new Error(`watch ${ns}: HTTP ${res.statusCode} ${Buffer.concat(chunks).toString()}`)))
        return
      }
      resolve()
      res.setEncoding('utf8')
      const parser = new SseParser()
      res.on('data', text => {
        const at = Date.now()
        for (const e of parser.push(text)) {
          let data
          try { data = JSON.parse(e.data) } catch (_) { end(`watch ${ns}: event ${e.event} is not JSON: ${e.data.slice(0, 200)}`); continue }
          onEvent({ event: e.event, data }, at)
        }
      })
      res.on('end', () => end(`watch ${ns}: the agent ended the stream`))
      res.on('error', err => end(`watch ${ns}: ${err.message}`))
    })
    req.on('error', err => { reject(err); end(`watch ${ns}: ${err.message}`) })
  })
  return {
    opened,
    ended,
    close () { closing = true; req.destroy() }
  }
}

module.exports = { SseParser, watchConfig }
