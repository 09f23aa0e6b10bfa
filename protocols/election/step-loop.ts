/**
 * What drives one slot's state machine (slot.ts): a timer, and a loop that
 * runs the slot's step one at a time.
 *
 * A step is asynchronous (it signs, gossips, reads the DHT), while the things
 * that ask for one (the slot's timer, a membership change, another holder's
 * lease, the lapse timer) come at any moment. Two steps of one slot never
 * overlap: a wake-up that arrives while a step runs makes the loop run one
 * more step right after it, however many arrived, since they all ask the
 * same thing (look again). After its last step the loop waits for the delay
 * that step asked for, or for the default delay (the renew interval).
 */

/**
 * `waiting`: a timer is set (or none, before the first start); `running`: a
 * step is in progress; `again`: one more step is owed after it; `halted`:
 * stopped for good, nothing is scheduled any more.
 */
type LoopState = 'waiting' | 'running' | 'again' | 'halted'

export interface StepLoopInit {
  /** One step; resolves with the delay before the next, or undefined for the default. */
  step: () => Promise<number | undefined>
  /** The delay after a step that asked for none. */
  defaultDelay: () => number
  /** A step threw: reported, and the loop waits the default delay. */
  onError: (err: unknown) => void
}

export class StepLoop {
  private state: LoopState = 'waiting'
  private timer: ReturnType<typeof setTimeout> | undefined
  /** The run in progress (or the last one), awaited by halt(). */
  private inFlight: Promise<void> = Promise.resolve()

  constructor (private readonly init: StepLoopInit) {}

  /** Step in `delayMs`, replacing the timer set before. */
  after (delayMs: number): void {
    if (this.state === 'halted') return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => { this.fire() }, delayMs)
  }

  /** Something changed: step at once (on the next turn of the event loop), or right after the step in progress. */
  wake (): void {
    if (this.state === 'running') this.state = 'again'
    else if (this.state === 'waiting') this.after(0)
  }

  /** No step starts any more; resolves when the one in progress (if any) has finished. */
  async halt (): Promise<void> {
    this.state = 'halted'
    clearTimeout(this.timer)
    await this.inFlight
  }

  /** Read through a call: wake() and halt() change the state while a step is awaited. */
  private is (state: LoopState): boolean { return this.state === state }

  private fire (): void {
    if (this.state !== 'waiting') return
    this.inFlight = this.run()
  }

  private async run (): Promise<void> {
    let delay: number | undefined
    try {
      do {
        this.state = 'running'
        delay = await this.init.step()
      } while (this.is('again'))
    } catch (err) {
      delay = undefined
      this.init.onError(err)
    }
    // halt() during the step: nothing more.
    if (this.is('halted')) return
    this.state = 'waiting'
    this.after(delay ?? this.init.defaultDelay())
  }
}
