/**
 * tc-netem's words for `ImpairmentOptions` (impair.ts): `parseNetemSpec`
 * reads what follows `tc qdisc add dev X root netem`, `netemFromFlags` reads
 * the same settings as `wirelab impair` flags (`--delay 20ms --jitter 5ms
 * --loss 1% …`) with the same unit parsers, and `formatNetemSpec` prints
 * options the way `tc qdisc show` prints a netem qdisc, for `wirelab stats`.
 *
 * Hand-written: tc's grammar lives in iproute2's C (q_netem.c, tc_util.c)
 * and no JavaScript library parses it. Sources for every rule below: the
 * tc(8) and tc-netem(8) man pages of iproute2 6.1 (on the development
 * machine) and iproute2's lib/utils.c, tc/tc_util.c, tc/q_netem.c; the rate
 * units and `tc qdisc show`'s rate format are checked against the `tc`
 * binary by test/link/netem-spec.test.ts.
 *
 * Accepted (words separated by blanks, an optional leading `netem`):
 *
 *   delay TIME [JITTER [CORRELATION]] [distribution normal|uniform]
 *   loss [random] PERCENT [CORRELATION]
 *   loss gemodel p [r [1-h [1-k]]]   → gilbertElliott { p, r, lossBad: 1-h, lossGood: 1-k };
 *                                      as tc, r defaults to 1-p, 1-h to 100%, 1-k to 0%
 *   duplicate PERCENT [CORRELATION]
 *   reorder PERCENT [CORRELATION]    (needs a delay, as tc says)
 *   rate RATE
 *   limit PACKETS                    → queueLimitFrames
 *
 *   TIME     a number with s, sec, secs, ms, msec, msecs, us, usec, usecs,
 *            ns, nsec, nsecs (any case); a bare number is MICROseconds (tc(8),
 *            TIMES), so `delay 20` is 20us
 *   PERCENT  `1%` or `1`: both mean one percent (iproute2's parse_percent)
 *   RATE     a number with bit, kbit, mbit, gbit, tbit, bps (bytes/s), kbps,
 *            mbps, gbps, tbps, or the IEC kibit, mibit, gibit, tibit, kibps,
 *            … (any case); a bare number is bits/s (tc(8), RATES).
 *
 * A CORRELATION other than 0 is refused: wirelab's impairments draw each
 * frame independently. Also refused, naming the word: `loss state`, `ecn`,
 * `corrupt`, `gap`, `slot`, the `pareto`/`paretonormal` tables, rate
 * overheads, rates as a percentage of link speed, and a keyword given
 * twice (tc keeps the last silently; here it is surely a mistake).
 */
import type { GilbertElliottOptions, ImpairmentOptions } from './impair.js';

const TIME_EXAMPLE = 'write 20ms, 1.5s or 500us';
const PERCENT_EXAMPLE = 'write 1% or 0.5%';
const RATE_EXAMPLE = 'write 100mbit, 1.5gbit or 500kbps';
const KEYWORDS = 'delay, distribution, loss, duplicate, reorder, rate, limit';

/** A number as C's strtod reads one at the start of a word (decimal only). */
const NUMBER = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/;

/** Microseconds per TIME unit (tc's get_time64; no unit means microseconds). */
const TIME_UNITS: ReadonlyMap<string, number> = new Map([
  ['', 1],
  ['s', 1e6], ['sec', 1e6], ['secs', 1e6],
  ['ms', 1e3], ['msec', 1e3], ['msecs', 1e3],
  ['us', 1], ['usec', 1], ['usecs', 1],
  ['ns', 1e-3], ['nsec', 1e-3], ['nsecs', 1e-3],
]);

/** Bits per second per RATE unit (iproute2's `suffixes` table in tc_util.c, matched without case). */
const RATE_UNITS: ReadonlyMap<string, number> = new Map([
  ['', 1],
  ['bit', 1], ['kibit', 1024], ['kbit', 1e3], ['mibit', 1024 ** 2], ['mbit', 1e6],
  ['gibit', 1024 ** 3], ['gbit', 1e9], ['tibit', 1024 ** 4], ['tbit', 1e12],
  ['bps', 8], ['kibps', 8 * 1024], ['kbps', 8e3], ['mibps', 8 * 1024 ** 2], ['mbps', 8e6],
  ['gibps', 8 * 1024 ** 3], ['gbps', 8e9], ['tibps', 8 * 1024 ** 4], ['tbps', 8e12],
]);

/** Splits `20ms` into 20 and `ms`; null when the word does not start with a number. */
function splitNumber(word: string): { value: number; unit: string } | null {
  const m = NUMBER.exec(word);
  if (!m) return null;
  return { value: Number(m[0]), unit: word.slice(m[0].length).toLowerCase() };
}

/** A tc TIME in milliseconds, or an error message. */
export function parseNetemTime(word: string): number | string {
  const n = splitNumber(word);
  const scale = n && TIME_UNITS.get(n.unit);
  if (!n || scale === undefined) return `${JSON.stringify(word)} is not a time (${TIME_EXAMPLE})`;
  return (n.value * scale!) / 1000;
}

/** A tc RATE in bits per second, or an error message. */
export function parseNetemRate(word: string): number | string {
  if (word.endsWith('%')) return `${JSON.stringify(word)}: a rate as a percentage of the link speed is not supported (${RATE_EXAMPLE})`;
  const n = splitNumber(word);
  const scale = n && RATE_UNITS.get(n.unit);
  if (!n || scale === undefined) return `${JSON.stringify(word)} is not a rate (${RATE_EXAMPLE})`;
  return n.value * scale!;
}

/** A tc PERCENT as a probability 0..1, or an error message. */
export function parseNetemPercent(word: string): number | string {
  const n = splitNumber(word);
  if (!n || (n.unit !== '' && n.unit !== '%')) return `${JSON.stringify(word)} is not a percentage (${PERCENT_EXAMPLE})`;
  if (n.value > 100) return `${JSON.stringify(word)} is more than 100%`;
  return n.value / 100;
}

/** Reads clauses from a list of words; every error is prefixed by `where` (the spec or the flag). */
class ClauseReader {
  private i = 0;
  /** The keyword of the clause being read (for the error after `delay 20`). */
  private last = '';
  readonly seen = new Set<string>();

  constructor(
    private readonly words: readonly string[],
    private readonly where: string,
    readonly opts: ImpairmentOptions,
  ) {}

  fail(message: string): never {
    throw new Error(`${this.where}: ${message}`);
  }

  private peek(): string | undefined {
    return this.words[this.i];
  }
  private take(what: string, after: string): string {
    const w = this.words[this.i++];
    if (w === undefined) this.fail(`expected ${what} after "${after}"`);
    return w;
  }
  /** tc's NEXT_IS_NUMBER: an optional argument is there when the next word starts with a digit. */
  private nextIsNumber(): boolean {
    const w = this.peek();
    return w !== undefined && /^[0-9]/.test(w);
  }
  private value<T>(result: T | string): T {
    return typeof result === 'string' ? this.fail(result) : result;
  }
  private correlation(keyword: string): void {
    if (!this.nextIsNumber()) return;
    const word = this.take('a correlation', keyword);
    const c = this.value(parseNetemPercent(word));
    if (c !== 0) this.fail(`correlation ${JSON.stringify(word)} after "${keyword}" is not supported: wirelab draws every frame independently (leave it out, or write 0%)`);
  }

  readAll(): void {
    while (this.i < this.words.length) this.clause();
  }

  private clause(): void {
    const previous = this.last;
    const keyword = this.words[this.i++]!;
    this.last = keyword;
    const once = (): void => {
      if (this.seen.has(keyword)) this.fail(`"${keyword}" is given twice`);
      this.seen.add(keyword);
    };
    const o = this.opts;
    switch (keyword) {
      case 'delay': {
        once();
        o.delayMs = this.time(this.take('a time', 'delay'));
        if (this.nextIsNumber()) {
          o.jitterMs = this.time(this.take('a jitter', 'delay'));
          this.correlation('delay');
        }
        return;
      }
      case 'distribution': {
        once();
        const d = this.take('normal or uniform', 'distribution');
        if (d !== 'normal' && d !== 'uniform') this.fail(`distribution ${JSON.stringify(d)} is not supported (normal or uniform)`);
        o.jitterDistribution = d;
        return;
      }
      case 'loss': {
        let kind = this.take('random PERCENT or gemodel p [r [1-h [1-k]]]', 'loss');
        if (kind === 'gemodel') {
          if (this.seen.has('gemodel')) this.fail('"loss gemodel" is given twice');
          this.seen.add('gemodel');
          o.gilbertElliott = this.gemodel();
          return;
        }
        if (kind === 'state' || kind === 'ecn') this.fail(`"loss ${kind}" is not supported (loss PERCENT or loss gemodel p r 1-h 1-k)`);
        if (this.seen.has('loss')) this.fail('"loss" is given twice');
        this.seen.add('loss');
        if (kind === 'random') kind = this.take('a percentage', 'loss random');
        else if (!/^[0-9.]/.test(kind)) this.fail(`${JSON.stringify(kind)} after "loss" is not supported (loss [random] PERCENT or loss gemodel p [r [1-h [1-k]]])`);
        o.loss = this.value(parseNetemPercent(kind));
        this.correlation('loss');
        return;
      }
      case 'duplicate':
      case 'reorder': {
        once();
        const p = this.value(parseNetemPercent(this.take('a percentage', keyword)));
        if (keyword === 'duplicate') o.duplicate = p;
        else o.reorder = p;
        this.correlation(keyword);
        if (keyword === 'reorder' && this.peek() === 'gap') this.fail('"reorder … gap" is not supported');
        return;
      }
      case 'rate': {
        once();
        o.rateBitsPerSec = this.value(parseNetemRate(this.take('a rate', 'rate')));
        if (this.nextIsNumber() || this.peek()?.startsWith('-')) this.fail(`rate overheads (${JSON.stringify(this.peek())}) are not supported`);
        return;
      }
      case 'limit': {
        once();
        const w = this.take('a number of packets', 'limit');
        if (!/^\d+$/.test(w) || Number(w) > 0xffffffff) this.fail(`${JSON.stringify(w)} is not a number of packets (write limit 1000)`);
        o.queueLimitFrames = Number(w);
        return;
      }
      case 'corrupt':
      case 'slot':
      case 'ecn':
      case 'gap':
        return this.fail(`"${keyword}" is not supported (supported: ${KEYWORDS})`);
    }
    const before = this.words[this.i - 2] ?? '';
    if (previous === 'delay' && TIME_UNITS.has(keyword.toLowerCase()) && /^[0-9.]+$/.test(before)) {
      this.fail(`"${keyword}": write the unit with no space (${before}${keyword})`);
    }
    if (previous === 'delay' && /^[a-z]+$/i.test(keyword) && /^[0-9.]/.test(before)) {
      this.fail(`${JSON.stringify(keyword)} is not a time (${TIME_EXAMPLE})`);
    }
    this.fail(`${JSON.stringify(keyword)} is not a netem keyword (supported: ${KEYWORDS})`);
  }

  private time(word: string): number {
    const t = this.value(parseNetemTime(word));
    if (t > 4294967.295) this.fail(`${JSON.stringify(word)} is longer than tc's limit of 4294967295us`);
    return t;
  }

  private gemodel(): GilbertElliottOptions {
    const percent = (what: string): number => this.value(parseNetemPercent(this.take(what, 'loss gemodel')));
    if (this.peek() === 'p') this.i++;
    const p = percent('p');
    const ge: GilbertElliottOptions = { p, r: 1 - p, lossBad: 1, lossGood: 0 };
    if (this.labelled('r')) ge.r = percent('r');
    if (this.labelled('1-h')) ge.lossBad = percent('1-h');
    if (this.labelled('1-k')) ge.lossGood = percent('1-k');
    return ge;
  }

  /**
   * Whether the next gemodel value is there: a number (tc's input), or the
   * label `tc qdisc show` prints before it (`r 10%`), which is skipped.
   */
  private labelled(label: string): boolean {
    if (this.peek() === label) {
      this.i++;
      return true;
    }
    return this.nextIsNumber() && this.peek() !== '1-h' && this.peek() !== '1-k';
  }
}

/** The checks tc makes across clauses. */
function checkCombination(o: ImpairmentOptions, fail: (m: string) => never, words: { delay: string; jitter: string }): void {
  if (o.reorder !== undefined && o.reorder > 0 && !(o.delayMs !== undefined && o.delayMs > 0)) {
    fail(`reordering needs a ${words.delay} (frames overtake those waiting it), as tc says`);
  }
  if (o.jitterDistribution !== undefined && !(o.jitterMs !== undefined && o.jitterMs > 0)) {
    fail(`a distribution needs a ${words.jitter}`);
  }
}

function quote(text: string): string {
  return JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text);
}

/**
 * Options from netem's words, e.g. `delay 20ms 5ms distribution normal loss
 * 1% rate 100mbit`. Throws an Error naming the word and what was expected.
 */
export function parseNetemSpec(text: string): ImpairmentOptions {
  const where = `netem spec ${quote(text)}`;
  const words = text.trim() === '' ? [] : text.trim().split(/\s+/);
  if (words[0] === 'netem') words.shift();
  const reader = new ClauseReader(words, where, {});
  reader.readAll();
  checkCombination(reader.opts, (m) => reader.fail(m), { delay: 'delay', jitter: 'delay with a jitter (delay 20ms 5ms)' });
  return reader.opts;
}

/** The `wirelab impair` flags netemFromFlags reads, and the netem keyword each stands for. */
const FLAG_KEYWORDS = ['delay', 'jitter', 'distribution', 'loss', 'duplicate', 'reorder', 'rate', 'limit'] as const;

/**
 * Options from `wirelab impair` flags: `{ delay: '20ms', jitter: '5ms',
 * loss: '1%', duplicate: '1%', reorder: '25%', rate: '100mbit', limit:
 * '1000', distribution: 'uniform' }`. A flag's value is what follows the
 * keyword in the netem spec (so `loss: 'gemodel 1% 10%'` works too). Other
 * keys of `flags` (the command's other options) are ignored.
 */
export function netemFromFlags(flags: Record<string, string | undefined>): ImpairmentOptions {
  const opts: ImpairmentOptions = {};
  for (const name of FLAG_KEYWORDS) {
    const value = flags[name];
    if (value === undefined) continue;
    const where = `--${name} ${quote(value)}`;
    const words = value.trim() === '' ? [] : value.trim().split(/\s+/);
    if (words.length === 0) throw new Error(`${where}: expected a value`);
    if (name === 'jitter') {
      if (flags.delay === undefined) throw new Error(`${where}: --jitter needs --delay`);
      if (words.length !== 1) throw new Error(`${where}: expected one time (${TIME_EXAMPLE})`);
      if (opts.jitterMs !== undefined) throw new Error(`${where}: the jitter is already given in --delay`);
      const t = parseNetemTime(words[0]!);
      if (typeof t === 'string') throw new Error(`${where}: ${t}`);
      opts.jitterMs = t;
      continue;
    }
    const reader = new ClauseReader([name, ...words], where, opts);
    reader.readAll();
    if (reader.seen.size > 1) {
      throw new Error(`${where}: expected only the ${name} value, found more words`);
    }
  }
  checkCombination(opts, (m) => {
    throw new Error(`wirelab impair: ${m}`);
  }, { delay: '--delay', jitter: '--jitter' });
  return opts;
}

// ---------------------------------------------------------------------------
// Printing, as `tc qdisc show`

/**
 * A time as iproute2's print_time64: three significant digits in s, ms or
 * us, whole ns below 1us. One difference: the value is rounded before the
 * unit is chosen, so 999.6ms prints as `1s` where tc's `%.3g` would print
 * `1e+03ms`.
 */
export function formatNetemTime(ms: number): string {
  const ns = Math.round(ms * 1e6);
  if (ns < 1e3) return `${ns}ns`;
  const rounded = Number(ns.toPrecision(3));
  if (rounded >= 1e9) return `${Number((rounded / 1e9).toPrecision(3))}s`;
  if (rounded >= 1e6) return `${Number((rounded / 1e6).toPrecision(3))}ms`;
  return `${Number((rounded / 1e3).toPrecision(3))}us`;
}

/** A rate as iproute2's print_rate: the largest of bit/Kbit/Mbit/Gbit/Tbit that keeps it whole (or under 1000 of the unit). */
export function formatNetemRate(bitsPerSec: number): string {
  const units = ['', 'K', 'M', 'G', 'T'];
  let rate = Math.floor(bitsPerSec);
  let i = 0;
  for (; i < units.length - 1; i++) {
    if (rate < 1000) break;
    if (rate % 1000 !== 0 && rate < 1000 * 1000) break;
    rate = Math.floor(rate / 1000);
  }
  return `${rate}${units[i]}bit`;
}

/** A probability as netem prints a percentage (`%g%%`). */
function formatPercent(p: number): string {
  const s = (p * 100).toPrecision(6);
  return `${s.includes('e') ? s : String(Number(s))}%`;
}

/**
 * The options as `tc qdisc show` prints a netem qdisc: `limit 1000 delay
 * 20ms  5ms loss 1% duplicate 0.5% rate 100Mbit` (two blanks before the
 * jitter, as tc). Only what netem can say is printed: `seed`, `keepOrder`
 * and `queueLimitBytes` are left out. One addition: `distribution uniform`
 * after the jitter (tc uploads the table and never prints it), so that the
 * result parses back to the same options. Unset options print nothing.
 */
export function formatNetemSpec(opts: ImpairmentOptions): string {
  const parts: string[] = [];
  if (opts.queueLimitFrames !== undefined) parts.push(`limit ${opts.queueLimitFrames}`);
  if (opts.delayMs !== undefined && opts.delayMs > 0) {
    let delay = `delay ${formatNetemTime(opts.delayMs)}`;
    if (opts.jitterMs !== undefined && opts.jitterMs > 0) {
      delay += `  ${formatNetemTime(opts.jitterMs)}`;
      if (opts.jitterDistribution === 'uniform') delay += ' distribution uniform';
    }
    parts.push(delay);
  }
  if (opts.loss !== undefined && opts.loss > 0) parts.push(`loss ${formatPercent(opts.loss)}`);
  const ge = opts.gilbertElliott;
  if (ge !== undefined) {
    parts.push(
      `loss gemodel p ${formatPercent(ge.p)} r ${formatPercent(ge.r)} 1-h ${formatPercent(ge.lossBad ?? 1)} 1-k ${formatPercent(ge.lossGood ?? 0)}`,
    );
  }
  if (opts.duplicate !== undefined && opts.duplicate > 0) parts.push(`duplicate ${formatPercent(opts.duplicate)}`);
  if (opts.reorder !== undefined && opts.reorder > 0) parts.push(`reorder ${formatPercent(opts.reorder)}`);
  if (opts.rateBitsPerSec !== undefined && opts.rateBitsPerSec > 0) parts.push(`rate ${formatNetemRate(opts.rateBitsPerSec)}`);
  return parts.join(' ');
}
