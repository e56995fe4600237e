// Node's floor for the egress benchmark (decision 0008): each app connection gets its own TLS
// connection to the destination and the bytes are copied both ways, unparsed. Not a proxy (no
// framing, no header rules, no pool): the least work Node can do per request on this path, so
// that the agent's figures can be read against what Node itself costs.
// Run: node bench/egress-floor.mjs <listen port> <destination port> <CA file>
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { connect } from 'node:tls';

const [port, destPort, caFile] = process.argv.slice(2);
const ca = readFileSync(caFile);
const ignore = () => {};

createServer({ noDelay: true }, (app) => {
  const dest = connect({ host: '127.0.0.1', port: Number(destPort), ca, servername: 'localhost' });
  dest.setNoDelay(true);
  app.on('data', (b) => dest.write(b));
  dest.on('data', (b) => app.write(b));
  app.on('close', () => dest.destroy());
  dest.on('close', () => app.destroy());
  app.on('error', ignore);
  dest.on('error', ignore);
}).listen(Number(port), '127.0.0.1');
