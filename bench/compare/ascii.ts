/**
 * ASCII digits written straight into frames, so the generator stamps each message
 * with its send time and counter without building strings or parsing JSON.
 */

/** Width of the send timestamp carried as the 16-byte message content. */
export const STAMP_DIGITS = 16;

/** Microseconds on this process's monotonic clock (performance.now). */
export function nowUs(): number {
  return Math.floor(performance.now() * 1000);
}

/** Writes `value` (an integer, 0 ≤ value < 10^width) as `width` zero-padded digits at `start`. */
export function putDigits(buf: Buffer, start: number, width: number, value: number): void {
  let v = value;
  for (let i = start + width - 1; i >= start; i--) {
    const q = Math.floor(v / 10);
    buf[i] = 48 + (v - q * 10);
    v = q;
  }
}

/** Reads exactly `width` digits at `start`. */
export function readDigits(buf: Buffer, start: number, width: number): number {
  let v = 0;
  for (let i = start; i < start + width; i++) v = v * 10 + (buf[i] - 48);
  return v;
}

/** Reads an unsigned decimal integer at `start`, up to the first non-digit. */
export function readUint(buf: Buffer, start: number): number {
  let v = 0;
  for (let i = start; i < buf.length; i++) {
    const c = buf[i] - 48;
    if (c < 0 || c > 9) break;
    v = v * 10 + c;
  }
  return v;
}

/** The 16-digit stamp as a string (for drivers whose client library wants strings). */
export function stampString(us: number): string {
  return String(us).padStart(STAMP_DIGITS, '0');
}
