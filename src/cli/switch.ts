/**
 * `wirelab switch PORT…`: runs a wirelab switch over TAP devices until
 * Ctrl-C, then prints the per-port counters and the FDB (SIGUSR1 prints them
 * while it runs). Move the TAPs into containers yourself (`ip link set TAP
 * netns …`) or let a lab do it. Everything that would fail later is refused
 * before the first TAP is opened (src/lab/switch.ts checkSwitchSetup): a
 * --pcap file that cannot be written, a port name that is already an
 * interface (one wirelab did not make: choose another name; one a wirelab run
 * left behind: `wirelab cleanup`).
 */
import type { Command } from 'commander';
import { parseSwitchPort, startSwitch } from '../lab/switch.js';

export function registerSwitchCommand(program: Command): void {
  program
    .command('switch')
    .description('switch frames between TAP devices: MAC learning, 802.1Q access and trunk ports, pcapng mirror (root)')
    .argument('<ports...>', 'TAP (VLAN 1), TAP:VLAN (access), or TAP:trunk=10,20[,native=1]')
    .option('--vnet', 'open the TAPs with vnet_hdr (checksum and TSO offload)')
    .option('--pcap <file>', 'mirror every port into a pcapng file, or - for stdout (| wireshark -k -i -)')
    .option('--aging <seconds>', 'FDB aging time', (v) => {
      if (!/^\d+$/.test(v) || Number(v) < 1) throw new Error(`--aging must be a positive number of seconds, got "${v}"`);
      return Number(v) * 1000;
    })
    .option('--json', 'print the final tables as JSON')
    .addHelpText(
      'after',
      '\nPort names must be free (or TAPs you made with `ip tuntap add … mode tap`): an existing\n' +
        'interface is refused before any TAP is opened, and so is a --pcap file that cannot be written.\n\n' +
        'Examples:\n  sudo wirelab switch tapa:10 tapb:10 tapc:trunk=10,20 --pcap sw.pcapng\n' +
        '  sudo wirelab switch tapa tapb --pcap - | wireshark -k -i -\n',
    )
    .action(async (specs: string[], opts: { vnet?: boolean; pcap?: string; aging?: number; json?: boolean }) => {
      const ports = specs.map(parseSwitchPort);
      const sw = startSwitch({
        ports,
        vnetHdr: opts.vnet ?? false,
        ...(opts.pcap !== undefined ? { pcap: opts.pcap === '-' ? process.stdout : opts.pcap } : {}),
        ...(opts.aging !== undefined ? { agingMs: opts.aging } : {}),
      });
      // With the capture on stdout, everything else goes to stderr.
      const out = opts.pcap === '-' ? process.stderr : process.stdout;
      const tables = () =>
        opts.json
          ? JSON.stringify({ ports: sw.bridge.allPortCounters(), fdb: sw.bridge.fdbEntries() }, null, 2) + '\n'
          : `${sw.bridge.formatPortCounters()}\n${sw.bridge.formatFdb()}\n`;
      out.write(`switching ${ports.map((p) => p.tap).join(', ')}; Ctrl-C to stop (SIGUSR1 prints the tables)\n`);
      const onUsr1 = () => out.write(tables());
      process.on('SIGUSR1', onUsr1);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      process.off('SIGUSR1', onUsr1);
      out.write(tables());
      await sw.stop();
    });
}
