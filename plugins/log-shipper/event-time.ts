// The event time taken from a parsed field (`timestamp: { field, format }`), as epoch ms plus
// the nanoseconds below the ms (Loki and forward carry them). A value that does not parse
// leaves the read time in place: an event is never dropped for its timestamp.

export type TimeFormat = 'iso8601' | 'unix' | 'unix_ms' | 'unix_us' | 'unix_ns';

/** Digits to append to a value in the format's unit to get nanoseconds. */
const NS_DIGITS: Record<Exclude<TimeFormat, 'iso8601'>, number> = { unix: 9, unix_ms: 6, unix_us: 3, unix_ns: 0 };

// RFC 3339 / ISO 8601 with a date, a time (T or a space), any number of fraction digits and a zone.
const ISO = /^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d(?::\d\d)?)(?:[.,](\d+))?(Z|[+-]\d\d(?::?\d\d)?)?$/i;
const DECIMAL = /^(\d+)(?:\.(\d+))?$/;

export class TimeParser {
  private readonly path: string[];
  private readonly format: TimeFormat;
  /** Results of the last parse (no object per event). */
  ms = 0;
  nanos = 0;

  constructor(field: string, format: TimeFormat) {
    this.path = field.split('.');
    this.format = format;
  }

  /** True (and ms/nanos set) if the field holds a time in the configured format. */
  parse(fields: Record<string, unknown>): boolean {
    let v: unknown = fields;
    for (const k of this.path) {
      if (v === null || typeof v !== 'object') return false;
      v = (v as Record<string, unknown>)[k];
    }
    if (this.format === 'iso8601') return typeof v === 'string' && this.iso(v);
    let text: string;
    if (typeof v === 'number') {
      if (!Number.isFinite(v) || v < 0) return false;
      // No exponent form: integers exactly as the double holds them, fractions to 9 digits.
      text = Number.isInteger(v) ? BigInt(v).toString() : v.toFixed(9);
    } else if (typeof v === 'string') text = v.trim();
    else return false;
    const m = DECIMAL.exec(text);
    if (!m) return false;
    const shift = NS_DIGITS[this.format];
    return this.set(m[1]! + (m[2] ?? '').padEnd(shift, '0').slice(0, shift));
  }

  private iso(s: string): boolean {
    const m = ISO.exec(s.trim());
    if (!m) return false;
    // No zone: UTC, not the agent's local time. +hhmm and +hh written the way Date.parse takes them.
    const z = m[4]?.toUpperCase() ?? 'Z';
    const zone = z === 'Z' ? z : z.length === 3 ? `${z}:00` : z.length === 5 ? `${z.slice(0, 3)}:${z.slice(3)}` : z;
    const base = Date.parse(`${m[1]}T${m[2]!.length === 5 ? `${m[2]}:00` : m[2]}${zone}`);
    if (!Number.isFinite(base) || base < 0) return false;
    const frac = (m[3] ?? '').padEnd(9, '0').slice(0, 9);
    this.ms = base + Number(frac.slice(0, 3));
    this.nanos = Number(frac.slice(3));
    return true;
  }

  /** From a decimal count of nanoseconds. */
  private set(ns: string): boolean {
    const ms = Number(ns.length > 6 ? ns.slice(0, -6) : '0');
    if (!Number.isSafeInteger(ms)) return false;
    this.ms = ms;
    this.nanos = Number(ns.slice(-6));
    return true;
  }
}
