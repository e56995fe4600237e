// `import ... from 'node:http'` in an ES module reads every export of the built-in, and that
// runs its lazy getters: Node 22's `http.WebSocket` loads the bundled undici (about 6 MB of idle RSS
// the agent never uses), `tls.rootCertificates` builds the whole CA list. require() leaves
// the getters alone, so runtime code takes these two built-ins from here.
import { createRequire } from 'node:module';
import type * as Http from 'node:http';
import type * as Http2 from 'node:http2';
import type * as Tls from 'node:tls';

const require = createRequire(import.meta.url);

export const http = require('node:http') as typeof Http;
export const tls = require('node:tls') as typeof Tls;

/**
 * node:http2 on first use: loading it (and making a server) costs ~2 MB of RSS, which an agent
 * whose clients all speak HTTP/1.1 never needs to pay.
 */
export const loadHttp2 = (): typeof Http2 => require('node:http2') as typeof Http2;
