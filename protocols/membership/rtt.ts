/**
 * Adaptive probe timeout (Jacobson/Karels, as TCP computes its RTO):
 * smoothed RTT and RTT variance from successful direct probes, timeout =
 * srtt + 4 × rttvar, never below the configured probe timeout and never
 * above `ceilingMs`. On a quiet LAN it stays at the configured value; when
 * every round trip slows down (a host under CPU pressure, a congested link)
 * the timeout follows, so slowness that affects everyone is not mistaken
 * for the failure of one member. Lifeguard's awareness multiplies on top.
 */
export class RttEstimator {
  private srtt?: number
  private rttvar = 0

  constructor (private readonly floorMs: number, private readonly ceilingMs: number) {}

  sample (rttMs: number): void {
    if (!Number.isFinite(rttMs) || rttMs < 0) return
    if (this.srtt === undefined) {
      this.srtt = rttMs
      this.rttvar = rttMs / 2
      return
    }
    this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - rttMs)
    this.srtt = 0.875 * this.srtt + 0.125 * rttMs
  }

  /** The probe timeout to use now, ms (integer). */
  timeoutMs (): number {
    if (this.srtt === undefined) return this.floorMs
    return Math.ceil(Math.min(this.ceilingMs, Math.max(this.floorMs, this.srtt + 4 * this.rttvar)))
  }
}
