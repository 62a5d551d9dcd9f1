/** The example labs beyond one flat network, each checked by test/interop/example-labs-topology.test.ts. */
export const TOPOLOGY_EXAMPLES = ['vlans.yaml', 'router-nat.yaml', 'wan.yaml', 'node-host.yaml'];
