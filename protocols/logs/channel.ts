/**
 * A hand-off between a producer that awaits and a consumer that iterates:
 * `send` resolves once the consumer took the item, so the producer runs at
 * the consumer's pace (back-pressure) and at most one item waits.
 */
export class Channel<T> implements AsyncIterable<T> {
  private item?: { value: T, taken: () => void }
  private wakeConsumer?: () => void
  private wakeProducer?: () => void
  private ended = false
  private failure?: unknown

  async send (value: T): Promise<void> {
    while (this.item !== undefined && !this.ended) await new Promise<void>(resolve => { this.wakeProducer = resolve })
    if (this.ended) throw new Error('channel closed')
    await new Promise<void>(resolve => {
      this.item = { value, taken: resolve }
      this.wakeConsumer?.()
    })
  }

  /** No more items; `err` makes the consumer throw it after the items already sent. */
  end (err?: unknown): void {
    if (this.ended) return
    this.ended = true
    this.failure = err
    this.wakeConsumer?.()
    this.wakeProducer?.()
  }

  async * [Symbol.asyncIterator] (): AsyncGenerator<T> {
    try {
      while (true) {
        if (this.item !== undefined) {
          const { value, taken } = this.item
          this.item = undefined
          taken()
          this.wakeProducer?.()
          yield value
          continue
        }
        if (this.ended) {
          if (this.failure !== undefined) throw this.failure
          return
        }
        await new Promise<void>(resolve => { this.wakeConsumer = resolve })
        this.wakeConsumer = undefined
      }
    } finally {
      // A consumer that stops early releases a waiting producer.
      this.ended = true
      this.item?.taken()
      this.wakeProducer?.()
    }
  }
}
