/**
 * `wirelab graph`'s engine: the Mermaid text of a small lab line by line,
 * hostile labels escaped, ids that stay apart, Mermaid that is structurally
 * sound; an SVG that a real XML parser (Python's minidom) accepts, that
 * shows every label as written and references nothing outside itself; both
 * deterministic; a 50-node lab that lays out. Pure: no root, no namespaces.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Topology, TopologyNode } from '../../src/lab/graph.js';
import { mermaidId, topologyToMermaid } from '../../src/lab/graph-mermaid.js';
import { topologyToSvg } from '../../src/lab/graph-svg.js';

const HOSTILE = 'a"b<c>#d';

/** A two-network lab with one of everything: a VLAN, an impaired link, a trunk, a hostile label, `web-1` next to `web_1`. */
const lab: Topology = {
  name: 'two-tier',
  nodes: [
    { id: 'internet', kind: 'outside', label: 'internet', details: [] },
    { id: 'front-gw', kind: 'gateway', label: 'front-gw', details: ['172.30.0.1/24'] },
    { id: 'front', kind: 'switch', label: 'front', details: ['172.30.0.0/24'] },
    { id: 'web-1', kind: 'service', label: 'web-1', details: ['172.30.0.2', 'ports 127.0.0.1:8080→80', 'healthy'] },
    { id: 'web_1', kind: 'service', label: 'web_1', details: ['172.30.0.3'] },
    { id: 'r1', kind: 'router', label: 'r1', details: ['172.30.0.254', '10.0.0.1'] },
    { id: 'back', kind: 'switch', label: 'back', details: [] },
    { id: 'db', kind: 'host', label: 'db', details: ['10.0.0.5'] },
    { id: 'evil', kind: 'host', label: HOSTILE, details: ["x & 'y'", 'bell\u0007'] },
  ],
  edges: [
    { from: 'internet', to: 'front-gw' },
    { from: 'front-gw', to: 'front', label: 'eth0 172.30.0.1' },
    { from: 'web-1', to: 'front', label: 'eth0 172.30.0.2', vlan: 10 },
    { from: 'web_1', to: 'front', label: 'eth0 172.30.0.3', vlan: 10 },
    { from: 'r1', to: 'front', label: 'eth0 172.30.0.254', impaired: 'delay 20ms loss 1%' },
    { from: 'r1', to: 'back', label: 'eth1 10.0.0.1' },
    { from: 'db', to: 'back', label: 'eth0 10.0.0.5' },
    { from: 'front', to: 'back', trunk: true },
    { from: 'evil', to: 'back', label: '<script>' },
  ],
};

describe('topologyToMermaid', () => {
  const text = topologyToMermaid(lab);
  const lines = text.split('\n');

  it('draws each kind in its shape, edges with their words, links undirected', () => {
    expect(lines[0]).toBe('flowchart LR');
    expect(lines).toContain('  %% wirelab lab two-tier');
    expect(lines).toContain('  n_internet(("internet"))');
    expect(lines).toContain('  n_front_2d_gw[/"front-gw<br/>172.30.0.1/24"\\]');
    expect(lines).toContain('  n_front(["front<br/>172.30.0.0/24"])');
    expect(lines).toContain('  n_web_2d_1["web-1<br/>172.30.0.2<br/>ports 127.0.0.1:8080→80<br/>healthy"]');
    expect(lines).toContain('  n_r1{{"r1<br/>172.30.0.254<br/>10.0.0.1"}}');
    expect(lines).toContain('  n_db[["db<br/>10.0.0.5"]]');
    expect(lines).toContain('  n_internet --- n_front_2d_gw');
    expect(lines).toContain('  n_web_2d_1 ---|"eth0 172.30.0.2<br/>vlan 10"| n_front');
    expect(lines).toContain('  n_r1 -.-|"eth0 172.30.0.254<br/>delay 20ms loss 1%"| n_front');
    expect(lines).toContain('  n_front ===|"trunk"| n_back');
    expect(lines).toContain('  class n_web_2d_1,n_web__1 service');
    expect(lines).toContain('  classDef switch fill:#f1f3f5,stroke:#495057,color:#212529');
  });

  it('escapes quotes, angle brackets and # as Mermaid entity codes, and keeps labels otherwise as written', () => {
    expect(lines).toContain('  n_evil[["a#quot;b#lt;c#gt;#35;d<br/>x #amp; \'y\'<br/>bell "]]');
    expect(lines).toContain('  n_evil ---|"#lt;script#gt;"| n_back');
    expect(text).not.toContain('<script>');
    // Mermaid rejects `[""]`; an empty label is drawn as a space.
    expect(topologyToMermaid({ name: 'e', nodes: [{ id: 'x', kind: 'service', label: '', details: [] }], edges: [] })).toContain('  n_x[" "]\n');
  });

  it('keeps web-1 and web_1 two nodes, and every id within [A-Za-z0-9_]', () => {
    expect(mermaidId('web-1')).toBe('n_web_2d_1');
    expect(mermaidId('web_1')).toBe('n_web__1');
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ unit: 'binary' }), { minLength: 2, maxLength: 8 }), (ids) => {
        const mapped = ids.map(mermaidId);
        expect(new Set(mapped).size).toBe(ids.length);
        for (const m of mapped) expect(m).toMatch(/^[A-Za-z0-9_]+$/);
      }),
    );
  });

  it('gives the same text for the same topology', () => {
    expect(topologyToMermaid(structuredClone(lab))).toBe(text);
  });

  /*
   * Is it valid Mermaid? Mermaid's own parser is not usable here: mermaid
   * 12.3's `mermaid.parse()` does run in Node, but every node or edge label
   * goes through DOMPurify, which needs a browser DOM (`DOMPurify.addHook is
   * not a function`), and @mermaid-js/mermaid-cli drives a headless Chromium
   * that cannot be downloaded on these machines. (With DOMPurify stubbed out
   * the real parser accepts this output; that was checked by hand, not kept
   * as a test, to avoid a 200 MB dev dependency.) So the check is
   * structural: every statement is one of the forms we emit, every id an
   * edge or class names was declared, and brackets balance outside quotes.
   */
  it('is structurally sound Mermaid: declared ids, known statement forms, balanced brackets', () => {
    for (const t of [lab, fiftyNodes()]) {
      const body = topologyToMermaid(t).trimEnd().split('\n').slice(1);
      const declared = new Set<string>();
      const used: string[] = [];
      for (const line of body) {
        let m: RegExpMatchArray | null;
        if ((m = /^  ([A-Za-z0-9_]+)(\(\(|\{\{|\[\[|\[\/|\(\[|\[)"([^"]*)"(\)\)|\}\}|\]\]|\\\]|\]\)|\])$/.exec(line))) {
          expect(PAIRS[m[2]!], line).toBe(m[4]);
          expect(declared.has(m[1]!), `${m[1]} declared twice`).toBe(false);
          declared.add(m[1]!);
          expectQuotedLabel(m[3]!);
        } else if ((m = /^  ([A-Za-z0-9_]+) (---|-\.-|===)(?:\|"([^"]*)"\|)? ([A-Za-z0-9_]+)$/.exec(line))) {
          used.push(m[1]!, m[4]!);
          if (m[3] !== undefined) expectQuotedLabel(m[3]);
        } else if ((m = /^  class ([A-Za-z0-9_,]+) [a-z]+$/.exec(line))) {
          used.push(...m[1]!.split(','));
        } else {
          expect(line, 'a statement of an unknown form').toMatch(/^  (%% [^\n]*|classDef [a-z]+ fill:#[0-9a-f]{6},stroke:#[0-9a-f]{6},color:#[0-9a-f]{6})$/);
        }
        expect(balanced(line), line).toBe(true);
      }
      for (const id of used) expect(declared.has(id), `${id} used but not declared`).toBe(true);
      expect(declared.size).toBe(t.nodes.length);
    }
  });

  it('refuses an edge to a node that is not there, and a node id given twice', () => {
    const dangling: Topology = { name: 'x', nodes: [lab.nodes[0]!], edges: [{ from: 'internet', to: 'nowhere' }] };
    expect(() => topologyToMermaid(dangling)).toThrow(/edges\[0\] names node 'nowhere'/);
    const twice: Topology = { name: 'x', nodes: [lab.nodes[0]!, lab.nodes[0]!], edges: [] };
    expect(() => topologyToMermaid(twice)).toThrow(/'internet' appears twice/);
  });
});

const PAIRS: Record<string, string> = { '((': '))', '{{': '}}', '[[': ']]', '[/': '\\]', '([': '])', '[': ']' };

/** Inside a quoted label: no raw `<`, `>`, `|` or backtick except the `<br/>` breaks, and every `#` starts an entity code. */
function expectQuotedLabel(label: string): void {
  const plain = label.replace(/<br\/>/g, '\n');
  expect(plain).not.toMatch(/[<>|`]/);
  expect(plain.replace(/#(?:[a-z]+|[0-9]+);/g, '')).not.toContain('#');
}

/** Brackets balance and nest, outside double-quoted strings. */
function balanced(line: string): boolean {
  const stack: string[] = [];
  const close: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    else if (quoted) continue;
    else if ('([{'.includes(ch)) stack.push(ch);
    else if (ch in close && stack.pop() !== close[ch]) return false;
  }
  return !quoted && stack.length === 0;
}

describe('topologyToSvg', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wirelab-graph-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is well-formed XML to a real parser, with every label as written and nothing outside the file', async () => {
    const svg = await topologyToSvg(lab);
    const seen = inspectSvg(svg, dir);
    expect(seen.root).toBe('svg');
    expect(seen.ns).toBe('http://www.w3.org/2000/svg');
    expect(seen.viewBox).toBe(`0 0 ${seen.width} ${seen.height}`);
    expect(seen.external).toEqual([]);
    // The parser hands back the text unescaped, so a label that was escaped
    // right reads exactly as written; XML cannot hold the bell, so it is U+FFFD.
    for (const n of lab.nodes) expect(seen.texts).toContain(n.label);
    expect(seen.texts).toContain("x & 'y'");
    expect(seen.texts).toContain('bell\ufffd');
    expect(seen.texts).toContain('<script>');
    expect(seen.texts).toContain('vlan 10');
    expect(seen.texts).toContain('delay 20ms loss 1%');
    expect(svg).not.toContain(HOSTILE);
    expect(svg).toContain('a&quot;b&lt;c&gt;#d');
    expect(svg).not.toMatch(/NaN|Infinity|undefined/);
    expect(seen.legend).toEqual(['service', 'router', 'host', 'gateway', 'switch', 'outside', 'trunk', 'impaired']);
    expectBoxesApartAndInside(seen);
  });

  it('survives any text: random labels parse and read back as written', async () => {
    // Control characters and lone surrogates cannot be XML at all (they come
    // back as U+FFFD, checked above); everything else must come back unchanged.
    const printable = fc.string({ unit: 'binary', maxLength: 16 }).map((s) => s.replace(/[\u0000-\u001f\ud800-\udfff\ufffe\uffff]/g, ''));
    const words = fc.sample(printable, { numRuns: 90, seed: 42 });
    const nodes: TopologyNode[] = [];
    for (let i = 0; i < 30; i++) nodes.push({ id: `n${i}`, kind: 'host', label: words[3 * i]!, details: [words[3 * i + 1]!] });
    const edges = nodes.slice(1).map((n, i) => ({ from: `n${i}`, to: n.id, label: words[3 * i + 2]!, impaired: words[3 * i + 2]! }));
    const svg = await topologyToSvg({ name: words[0]!, nodes, edges });
    const seen = inspectSvg(svg, dir);
    for (const n of nodes) expect(seen.texts).toEqual(expect.arrayContaining([n.label, ...n.details]));
    for (const e of edges) if (e.label !== '') expect(seen.texts).toContain(e.label);
  });

  it('draws impaired links dashed in red and trunks thick, from ELK\'s sections', async () => {
    const svg = await topologyToSvg(lab);
    const edges = [...svg.matchAll(/<g class="(edge[^"]*)">\n<polyline points="([^"]+)" fill="none" stroke="([^"]+)" stroke-width="([^"]+)"( stroke-dasharray="[^"]+")?/g)];
    expect(edges).toHaveLength(lab.edges.length);
    const byClass = (c: string) => edges.filter((e) => e[1] === c);
    expect(byClass('edge impaired')).toHaveLength(1);
    expect(byClass('edge impaired')[0]![3]).toBe('#e03131');
    expect(byClass('edge impaired')[0]![5]).toBeDefined();
    expect(byClass('edge trunk')[0]![4]).toBe('4');
    for (const e of edges) expect(e[2]!.split(' ').length).toBeGreaterThanOrEqual(2);
  });

  it('gives the same text for the same topology, in either direction', async () => {
    const right = await topologyToSvg(lab);
    expect(await topologyToSvg(structuredClone(lab))).toBe(right);
    const down = await topologyToSvg(lab, { direction: 'DOWN' });
    expect(await topologyToSvg(lab, { direction: 'DOWN' })).toBe(down);
    expect(down).not.toBe(right);
    expectBoxesApartAndInside(inspectSvg(down, dir));
  });

  it('renders an empty lab', async () => {
    const seen = inspectSvg(await topologyToSvg({ name: 'empty', nodes: [], edges: [] }), dir);
    expect(seen.texts).toEqual(['wirelab lab empty']);
  });

  it('lays out a 50-node lab', async () => {
    const big = fiftyNodes();
    const svg = await topologyToSvg(big);
    const seen = inspectSvg(svg, dir);
    expect(seen.boxes).toHaveLength(50);
    for (const n of big.nodes) expect(seen.texts).toContain(n.label);
    expect(svg).not.toMatch(/NaN|Infinity/);
    expectBoxesApartAndInside(seen);
  }, 30_000);
});

interface SeenSvg {
  root: string;
  ns: string;
  width: string;
  height: string;
  viewBox: string;
  texts: string[];
  legend: string[];
  boxes: { x: number; y: number; width: number; height: number }[];
  /** Elements or attributes that would reach outside the file: script, image, foreignObject, href, url(…). */
  external: string[];
}

/**
 * Parses the SVG with Python's xml.dom.minidom (python3 is on every machine
 * of this project's kind) — an XML parser that is not ours — and returns
 * what it found. A parse error fails the test with Python's message.
 */
function inspectSvg(svg: string, dir: string): SeenSvg {
  const file = join(dir, 'graph.svg');
  writeFileSync(file, svg);
  const script = `
import json, sys, xml.dom.minidom
doc = xml.dom.minidom.parse(sys.argv[1])
root = doc.documentElement
def text(e): return ''.join(c.data for c in e.childNodes if c.nodeType == c.TEXT_NODE)
def within(e, cls):
    p = e.parentNode
    return p is not None and p.nodeType == p.ELEMENT_NODE and p.getAttribute('class').split(' ')[0] == cls
external = []
for e in doc.getElementsByTagName('*'):
    if e.tagName in ('script', 'image', 'foreignObject', 'use', 'a'): external.append(e.tagName)
    for k, v in e.attributes.items():
        if 'href' in k or 'url(' in v or k.startswith('on'): external.append(k)
print(json.dumps({
    'root': root.tagName, 'ns': root.namespaceURI,
    'width': root.getAttribute('width'), 'height': root.getAttribute('height'), 'viewBox': root.getAttribute('viewBox'),
    'texts': [text(t) for t in doc.getElementsByTagName('text')],
    'legend': [text(t) for t in doc.getElementsByTagName('text') if within(t, 'legend')],
    'boxes': [{k: float(r.getAttribute(k)) for k in ('x', 'y', 'width', 'height')} for r in doc.getElementsByTagName('rect') if within(r, 'node')],
    'external': external,
}))
`;
  return JSON.parse(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' })) as SeenSvg;
}

/** No two node boxes overlap, and all lie inside the picture (the drawing sits 30 px below the title). */
function expectBoxesApartAndInside(seen: SeenSvg): void {
  const w = Number(seen.width);
  const h = Number(seen.height);
  seen.boxes.forEach((a, i) => {
    expect(a.x).toBeGreaterThanOrEqual(0);
    expect(a.y).toBeGreaterThanOrEqual(0);
    expect(a.x + a.width).toBeLessThanOrEqual(w);
    expect(a.y + a.height + 30).toBeLessThanOrEqual(h);
    for (const b of seen.boxes.slice(i + 1)) {
      const apart = a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y;
      expect(apart, `boxes ${JSON.stringify(a)} and ${JSON.stringify(b)} overlap`).toBe(true);
    }
  });
}

/** 50 nodes: an outside, a gateway, 8 switches on a trunk ring, 8 routers, 32 services; some links impaired, some on VLANs. */
function fiftyNodes(): Topology {
  const nodes: TopologyNode[] = [
    { id: 'internet', kind: 'outside', label: 'internet', details: [] },
    { id: 'gw', kind: 'gateway', label: 'gw', details: ['10.0.0.1'] },
  ];
  const edges: Topology['edges'] = [{ from: 'internet', to: 'gw' }, { from: 'gw', to: 'sw0', label: 'eth0 10.0.0.1' }];
  for (let s = 0; s < 8; s++) {
    nodes.push({ id: `sw${s}`, kind: 'switch', label: `sw${s}`, details: [`10.${s}.0.0/24`] });
    nodes.push({ id: `r${s}`, kind: 'router', label: `r${s}`, details: [`10.${s}.0.254`] });
    edges.push({ from: `sw${s}`, to: `sw${(s + 1) % 8}`, trunk: true });
    edges.push({ from: `r${s}`, to: `sw${s}`, label: `eth0 10.${s}.0.254`, ...(s % 3 === 0 ? { impaired: `delay ${s}ms` } : {}) });
    for (let h = 0; h < 4; h++) {
      const id = `svc-${s}-${h}`;
      nodes.push({ id, kind: 'service', label: id, details: [`10.${s}.0.${h + 2}`] });
      edges.push({ from: id, to: `sw${s}`, label: `eth0 10.${s}.0.${h + 2}`, vlan: 100 + s });
    }
  }
  return { name: 'fifty', nodes, edges };
}
