// A lab host's script: the default export gets the host's wirelab stack and
// runs an ordinary Node http server on it. What it returns closes it.
export default async function ({ stack, name, env }) {
  const server = stack.http.createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`${env.GREETING ?? 'hello'} (${name}, you are ${req.socket.remoteAddress})\n`);
  });
  await new Promise((resolve) => server.listen(80, resolve));
  return () => new Promise((resolve) => server.close(resolve));
}
