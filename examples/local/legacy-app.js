// The "legacy app" of the demo: plain HTTP on localhost, config read from a shared
// directory at start and again on SIGHUP, access log written to a shared log directory.
// It knows nothing about TLS, S3 or log shipping: that is Sidekick's job.
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const port = Number(process.env.APP_PORT ?? 8080);
const configDir = process.env.APP_CONFIG_DIR ?? './config';
const logDir = process.env.APP_LOG_DIR ?? './logs';
mkdirSync(logDir, { recursive: true });
if (process.env.APP_PID_FILE) writeFileSync(process.env.APP_PID_FILE, `${process.pid}\n`);

let config = { greeting: 'hello (no config yet)' };
function loadConfig(why) {
  try {
    config = JSON.parse(readFileSync(join(configDir, 'app.json'), 'utf8'));
    console.log(`legacy-app: config loaded (${why}): ${JSON.stringify(config)}`);
  } catch (err) {
    console.log(`legacy-app: keeping config (${why}): ${err.code ?? err.message}`);
  }
}
loadConfig('start');
process.on('SIGHUP', () => loadConfig('SIGHUP'));

const server = createServer((req, res) => {
  const started = Date.now();
  let body;
  if (req.url === '/health') body = 'ok\n';
  else body = `${JSON.stringify({ greeting: config.greeting, method: req.method, url: req.url, headers: req.headers }, null, 2)}\n`;
  res.writeHead(200, { 'content-type': req.url === '/health' ? 'text/plain' : 'application/json' });
  res.end(body);
  if (req.url !== '/health') {
    const line = `${new Date().toISOString()} ${req.headers['x-forwarded-for'] ?? req.socket.remoteAddress} "${req.method} ${req.url}" 200 ${Buffer.byteLength(body)} ${Date.now() - started}ms\n`;
    appendFileSync(join(logDir, 'access.log'), line);
  }
});
server.listen(port, '127.0.0.1', () => console.log(`legacy-app: listening on http://127.0.0.1:${port}`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
