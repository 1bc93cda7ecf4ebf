/**
 * A fixed one-minute window per caller (tenant + object id from the verified token), so that no header a client
 * controls (X-Forwarded-For) decides whose budget a request spends. Per gateway process.
 */
export class CallerRateLimiter {
  readonly #limit: number;
  readonly #windows = new Map<string, { start: number; count: number }>();
  readonly #windowMs = 60_000;
  #lastSweep = Date.now();

  constructor(limitPerMinute: number) {
    this.#limit = limitPerMinute;
  }

  /** Returns 0 when allowed, else the seconds until the caller may try again. */
  take(key: string, now = Date.now()): number {
    this.#sweep(now);
    let window = this.#windows.get(key);
    if (!window || now - window.start >= this.#windowMs) {
      window = { start: now, count: 0 };
      this.#windows.set(key, window);
    }
    window.count++;
    if (window.count <= this.#limit) return 0;
    return Math.max(1, Math.ceil((window.start + this.#windowMs - now) / 1000));
  }

  #sweep(now: number) {
    if (now - this.#lastSweep < this.#windowMs) return;
    this.#lastSweep = now;
    for (const [key, w] of this.#windows) if (now - w.start >= this.#windowMs) this.#windows.delete(key);
  }
}
