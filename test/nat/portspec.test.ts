/** Docker's `-p` syntax: every accepted form, every error sentence, and fast-check round trips. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  expandPortSpec,
  formatPortMapping,
  formatPortSpec,
  parsePortSpec,
  PortSpecError,
  type PortSpec,
} from '../../src/nat/portspec.js';

describe('parsePortSpec: accepted forms', () => {
  it('HOSTPORT:PORT defaults to 127.0.0.1 and tcp', () => {
    expect(parsePortSpec('8080:80')).toEqual({
      hostIp: '127.0.0.1', hostPortStart: 8080, hostPortEnd: 8080, containerPortStart: 80, containerPortEnd: 80, protocol: 'tcp',
    });
  });
  it('PORT alone is a random host port', () => {
    const s = parsePortSpec('80/udp');
    expect(s).toMatchObject({ hostIp: '127.0.0.1', hostPortStart: 0, containerPortStart: 80, protocol: 'udp' });
    expect(expandPortSpec(s)).toEqual([{ hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'udp' }]);
  });
  it('HOSTIP::PORT is a random host port on that address', () => {
    expect(parsePortSpec('0.0.0.0::53/udp')).toMatchObject({ hostIp: '0.0.0.0', hostPortStart: 0, containerPortStart: 53, protocol: 'udp' });
  });
  it('HOSTIP:HOSTPORT:PORT, written 0.0.0.0 accepted, address canonicalised', () => {
    expect(parsePortSpec('0.0.0.0:8080:80').hostIp).toBe('0.0.0.0');
    expect(parsePortSpec('127.000.0.01:8080:80').hostIp).toBe('127.0.0.1');
  });
  it('protocol is case-insensitive, as Docker lower-cases it', () => {
    expect(parsePortSpec('8080:80/TCP').protocol).toBe('tcp');
  });
  it('ranges expand pairwise, in order', () => {
    const s = parsePortSpec('127.0.0.1:8000-8002:80-82/udp');
    expect(formatPortSpec(s)).toBe('127.0.0.1:8000-8002:80-82/udp');
    expect(expandPortSpec(s).map(formatPortMapping)).toEqual([
      '127.0.0.1:8000:80/udp', '127.0.0.1:8001:81/udp', '127.0.0.1:8002:82/udp',
    ]);
  });
  it('a random-host range expands to one random port per container port', () => {
    expect(expandPortSpec(parsePortSpec('80-81')).map((m) => m.hostPort)).toEqual([0, 0]);
  });
});

describe('parsePortSpec: errors name the bad part', () => {
  const cases: Array<[string, string, string]> = [
    ['8080:80/sctp', '"8080:80/sctp": protocol must be tcp or udp', 'sctp'],
    ['8080:80/', '"8080:80/": protocol is empty after "/" (write /tcp or /udp)', '/'],
    ['', '"": the port spec is empty', ''],
    [' 8080:80', '" 8080:80": the port spec has spaces around it', ' 8080:80'],
    ['/tcp', '"/tcp": the container port is missing', '/tcp'],
    [':80', '":80": the host port before ":" is empty (write HOSTPORT:PORT, or PORT alone for a random host port)', ':80'],
    ['8080:', '"8080:": the container port after the last ":" is empty', '8080:'],
    ['::80', '"::80": the host address before the first ":" is empty', '::80'],
    ['1.2.3:8080:80', '"1.2.3:8080:80": host address "1.2.3" is not an IPv4 address like 127.0.0.1', '1.2.3'],
    ['1.2.3.256:8080:80', '"1.2.3.256:8080:80": host address "1.2.3.256" is not an IPv4 address like 127.0.0.1', '1.2.3.256'],
    ['localhost:8080:80', '"localhost:8080:80": host address "localhost" is not an IPv4 address like 127.0.0.1', 'localhost'],
    ['[::1]:8080:80', '"[::1]:8080:80": IPv6 host addresses are not supported (wirelab is IPv4 only)', '[::1]:8080:80'],
    ['1:2:3:4', '"1:2:3:4": too many ":" (expected [HOSTIP:]HOSTPORT:PORT; IPv6 addresses are not supported)', '1:2:3:4'],
    ['http:80', '"http:80": host port "http" is not a number', 'http'],
    ['8080:eighty', '"8080:eighty": container port "eighty" is not a number', 'eighty'],
    ['0:80', '"0:80": host port 0 is out of range 1..65535', '0'],
    ['8080:65536', '"8080:65536": container port 65536 is out of range 1..65535', '65536'],
    ['8080:99999999999999999999', '"8080:99999999999999999999": container port 99999999999999999999 is out of range 1..65535', '99999999999999999999'],
    ['8000-8010:80-85', '"8000-8010:80-85": host range 8000-8010 has 11 ports but container range 80-85 has 6; the ranges must be the same length', '8000-8010:80-85'],
    ['8000-8010:80', '"8000-8010:80": host range 8000-8010 has 11 ports but container range 80 has 1; the ranges must be the same length', '8000-8010:80'],
    ['8010-8000:90-80', '"8010-8000:90-80": the container port range "90-80" ends before it starts', '90-80'],
    ['8000-:80', '"8000-:80": the host port range "8000-" has no end after "-"', '8000-'],
    ['-8000:80', '"-8000:80": the host port range "-8000" has no start before "-"', '-8000'],
    ['80-81-82', '"80-81-82": container port "81-82" is not a number', '81-82'],
  ];
  it.each(cases)('%j', (spec, message, part) => {
    let caught: unknown;
    try {
      parsePortSpec(spec);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(PortSpecError);
    const e = caught as PortSpecError;
    expect(e.message).toBe(message);
    expect(e.part).toBe(part);
    expect(e.code).toBe('EINVAL');
    expect(e.spec).toBe(spec);
  });
  it('a non-string is a PortSpecError, not a TypeError', () => {
    expect(() => parsePortSpec(42 as unknown as string)).toThrow(PortSpecError);
  });
});

const port = fc.integer({ min: 1, max: 65535 });
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((q) => q.join('.'));
const specArb: fc.Arbitrary<PortSpec> = fc
  .record({ hostIp: ipv4, host: fc.option(port, { nil: undefined }), container: port, len: fc.nat(20), protocol: fc.constantFrom('tcp' as const, 'udp' as const) })
  .map(({ hostIp, host, container, len, protocol }) => {
    const span = Math.min(len, 65535 - container, host === undefined ? 65535 : 65535 - host);
    return {
      hostIp,
      hostPortStart: host ?? 0,
      hostPortEnd: host === undefined ? 0 : host + span,
      containerPortStart: container,
      containerPortEnd: container + span,
      protocol,
    };
  });

describe('properties (fast-check)', () => {
  it('format then parse gives the same spec, and format(parse(text)) === text for canonical text', () => {
    fc.assert(
      fc.property(specArb, (s) => {
        const text = formatPortSpec(s);
        expect(parsePortSpec(text)).toEqual(s);
        expect(formatPortSpec(parsePortSpec(text))).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });
  it('short forms parse to the same spec as their canonical text', () => {
    fc.assert(
      fc.property(specArb, fc.boolean(), (s, writeProto) => {
        const range = (a: number, b: number) => (a === b ? `${a}` : `${a}-${b}`);
        const c = range(s.containerPortStart, s.containerPortEnd);
        const h = s.hostPortStart === 0 ? undefined : range(s.hostPortStart, s.hostPortEnd);
        const proto = writeProto || s.protocol === 'udp' ? `/${s.protocol}` : '';
        const short = h === undefined ? `${c}${proto}` : `${h}:${c}${proto}`;
        expect(parsePortSpec(short)).toEqual({ ...s, hostIp: '127.0.0.1' });
      }),
    );
  });
  it('expansion pairs every port and never leaves the ranges', () => {
    fc.assert(
      fc.property(specArb, (s) => {
        const ms = expandPortSpec(s);
        expect(ms.length).toBe(s.containerPortEnd - s.containerPortStart + 1);
        for (const m of ms) {
          expect(m.containerPort).toBeGreaterThanOrEqual(s.containerPortStart);
          expect(m.containerPort).toBeLessThanOrEqual(s.containerPortEnd);
          if (s.hostPortStart !== 0) expect(m.hostPort - s.hostPortStart).toBe(m.containerPort - s.containerPortStart);
        }
      }),
    );
  });
  it('random strings either parse or throw PortSpecError, nothing else', () => {
    const alphabet = fc.constantFrom(...'0123456789:.-/tcpudTCPsx[] '.split(''));
    const tricky = fc.array(alphabet, { maxLength: 40 }).map((a) => a.join(''));
    fc.assert(
      fc.property(fc.oneof(tricky, fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 30 })), (text) => {
        try {
          const s = parsePortSpec(text);
          // Anything accepted is a valid spec that formats and re-parses to itself.
          expect(parsePortSpec(formatPortSpec(s))).toEqual(s);
        } catch (e) {
          expect(e).toBeInstanceOf(PortSpecError);
          expect((e as PortSpecError).message.startsWith(`"${text}": `)).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
