/**
 * A topology as Mermaid flowchart text, for READMEs, issues and anything
 * else that renders Mermaid (GitHub, GitLab, mermaid.live).
 *
 * Hand-written because it is a few lines of text per node and edge; what
 * needs care is Mermaid's own rules, written down here: ids are
 * [A-Za-z0-9_] only and some words (`end`, `graph`, `class`, …) or a
 * leading `o`/`x` after a link change the parse, labels are quoted strings
 * in which `"`, `<`, `>` and `#` must be entity codes (`#quot;`, `#lt;`,
 * `#gt;`, `#35;`), and `<br/>` is the line break.
 */
import { checkTopology, edgeWords, KIND_COLOURS, TOPOLOGY_NODE_KINDS, type Topology, type TopologyEdge, type TopologyNodeKind } from './graph.js';

/** Opening and closing brackets of each kind's shape, around the quoted label. */
const SHAPES: Record<TopologyNodeKind, readonly [string, string]> = {
  service: ['[', ']'], // rectangle
  router: ['{{', '}}'], // hexagon
  host: ['[[', ']]'], // subroutine
  gateway: ['[/', '\\]'], // trapezoid: a router too, but the one a network is given
  switch: ['([', '])'], // stadium
  outside: ['((', '))'], // circle: the nearest Mermaid has to a cloud
};

/** The topology as Mermaid `flowchart LR` text; the same topology always gives the same text. */
export function topologyToMermaid(t: Topology): string {
  checkTopology(t);
  const lines = ['flowchart LR', `  %% wirelab lab ${oneLine(t.name)}`];
  for (const n of t.nodes) {
    const [open, close] = SHAPES[n.kind];
    // Mermaid rejects an empty quoted label (`[""]`); a space draws the same.
    const text = [n.label, ...n.details].map(mermaidEscape).join('<br/>') || ' ';
    lines.push(`  ${mermaidId(n.id)}${open}"${text}"${close}`);
  }
  for (const e of t.edges) {
    const words = edgeWords(e).map(mermaidEscape).join('<br/>');
    const link = linkOf(e);
    lines.push(`  ${mermaidId(e.from)} ${words === '' ? link : `${link}|"${words}"|`} ${mermaidId(e.to)}`);
  }
  // Colours by kind: one classDef per kind present, in legend order.
  for (const kind of TOPOLOGY_NODE_KINDS) {
    const ids = t.nodes.filter((n) => n.kind === kind).map((n) => mermaidId(n.id));
    if (ids.length === 0) continue;
    const { fill, stroke } = KIND_COLOURS[kind];
    lines.push(`  classDef ${kind} fill:${fill},stroke:${stroke},color:#212529`);
    lines.push(`  class ${ids.join(',')} ${kind}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * Links are undirected, so no arrowheads: dotted when impaired (the netem
 * words are the label), thick for a trunk, plain otherwise. Impaired wins
 * over trunk because Mermaid has no thick dotted line and the impairment is
 * the surprise a reader must not miss; the label still says `trunk`.
 */
function linkOf(e: TopologyEdge): string {
  if (e.impaired !== undefined && e.impaired !== '') return '-.-';
  if (e.trunk === true) return '===';
  return '---';
}

/**
 * A node id as a Mermaid id, one-to-one so `web-1` and `web_1` stay two
 * nodes: `_` becomes `__` and any other character outside [A-Za-z0-9] becomes
 * `_<hex code point>_`, which reads back unambiguously. The `n_` prefix keeps
 * ids off Mermaid's keywords (`end`, `graph`, `style`, …) and off a leading
 * `o`/`x`, which would turn `---` into a circle- or cross-ended link.
 */
export function mermaidId(id: string): string {
  let out = 'n_';
  for (const ch of id) {
    if (/[A-Za-z0-9]/.test(ch)) out += ch;
    else if (ch === '_') out += '__';
    else out += `_${ch.codePointAt(0)!.toString(16)}_`;
  }
  return out;
}

/** Entity codes for the characters that end or reinterpret a quoted label; other text stays as written. */
const ENTITIES: Record<string, string> = {
  '#': '#35;', // first of all: it starts every entity code
  '"': '#quot;',
  '<': '#lt;',
  '>': '#gt;',
  '&': '#amp;',
  '|': '#124;', // ends an edge label
  '`': '#96;', // starts a Markdown string
};

function mermaidEscape(text: string): string {
  return oneLine(text).replace(/[#"<>&|`]/g, (ch) => ENTITIES[ch]!);
}

/** Mermaid statements end at a newline; a line break inside a label would end it early. */
function oneLine(text: string): string {
  return text.replace(/[\r\n\t\u0000-\u001f\u007f]+/g, ' ');
}
