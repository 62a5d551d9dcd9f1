/**
 * `wirelab graph`'s input: a lab model as a topology. What the README shows
 * is what the code draws now: its Mermaid block is `graph -f
 * examples/labs/vlans.yaml`, and docs/wan.svg is `graph --svg` of wan.yaml.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadLabFile } from '../../src/lab/file/index.js';
import { labTopology } from '../../src/lab/file/topology.js';
import { topologyToMermaid } from '../../src/lab/graph-mermaid.js';
import { topologyToSvg } from '../../src/lab/graph-svg.js';

describe('lab topology', () => {
  it('vlans.yaml: switches with their VLANs, gateways, an edge per interface with its VLAN, the trunk', () => {
    const t = labTopology(loadLabFile('examples/labs/vlans.yaml'));
    expect(t.nodes.map((n) => `${n.kind} ${n.id}`)).toEqual([
      'switch switch:site-a',
      'switch switch:site-b',
      'gateway red-gw',
      'gateway blue-gw',
      'service red-a',
      'service blue-a',
      'service red-b',
      'service blue-b',
    ]);
    expect(t.edges.find((e) => e.from === 'red-b')).toEqual({ from: 'red-b', to: 'switch:site-b', label: 'eth0 10.10.0.3', vlan: 10 });
    expect(t.edges.find((e) => e.trunk)).toEqual({ from: 'switch:site-a', to: 'switch:site-b', label: 'vlans 10, 20', trunk: true });
  });

  it('wan.yaml: routers hold the gateways; the WAN links carry their impairment', () => {
    const t = labTopology(loadLabFile('examples/labs/wan.yaml'));
    expect(t.nodes.filter((n) => n.kind === 'gateway')).toEqual([]);
    expect(t.edges.filter((e) => e.impaired !== undefined).map((e) => `${e.from} ${e.impaired}`)).toEqual([
      'hq-router delay 20ms 2ms loss 1%',
      'branch-router delay 20ms 2ms loss 1%',
    ]);
  });

  it("the README's Mermaid block and docs/wan.svg are what graph draws now", async () => {
    const readme = readFileSync('README.md', 'utf8');
    const block = /```mermaid\n([\s\S]*?)```/.exec(readme)?.[1];
    const mermaid = topologyToMermaid(labTopology(loadLabFile('examples/labs/vlans.yaml')));
    // The README leaves out the comment line and the colour classes.
    const shown = mermaid.split('\n').filter((l) => !/^\s*(%%|classDef|class )/.test(l)).join('\n');
    expect(block).toBe(shown);
    const svg = await topologyToSvg(labTopology(loadLabFile('examples/labs/wan.yaml')));
    expect(readFileSync('docs/wan.svg', 'utf8')).toBe(svg);
  });
});
