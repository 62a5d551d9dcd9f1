/**
 * `docker network create` + `docker run --network … -p …`, with wirelab as
 * the bridge, the gateway and the DNS server: two containers find each
 * other by name, and the host reaches one through a published port.
 * Needs root (namespaces, TAPs), python3 and curl.
 *
 *   node --import tsx examples/docker-network.ts [HOST_PORT]     (default 8080)
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BridgeNetwork, Lab } from 'wirelab';

const port = Number(process.argv[2] ?? 8080);
const onHost = promisify(execFile); // async: wirelab serves the published port from this very process
const lab = new Lab();
const net = new BridgeNetwork({ name: 'labnet', subnet: '172.30.0.0/24' }); // docker network create labnet
try {
  const web = await net.run(lab, { name: 'web', aliases: ['www'] }); // docker run --network labnet --name web …
  const client = await net.run(lab, { name: 'client' });
  const server = web.container.spawn(['python3', '-u', '-m', 'http.server', '80']);
  await server.waitForOutput(/Serving HTTP/, 10_000);
  await net.publish(`${port}:80`, 'web'); // -p 127.0.0.1:8080:80 (proxy mode)

  console.log((await client.container.exec(['getent', 'hosts', 'www'])).stdout.trim()); // 172.30.0.2  www
  console.log((await client.container.exec(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}\n', 'http://web/'])).stdout.trim()); // 200
  console.log((await onHost('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}\n', `http://127.0.0.1:${port}/`])).stdout.trim()); // 200
  console.log(net.inspect()); // docker network inspect labnet
} finally {
  await lab.close(); // containers and their processes
  await net.close(); // published ports, TAPs, gateway, bridge
}
