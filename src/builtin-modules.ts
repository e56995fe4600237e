// `import ... from 'node:http'` in an ES module reads every export of the built-in, and that
// runs its lazy getters: Node 22's `http.WebSocket` loads the bundled undici (about 6 MB of idle RSS
// the agent never uses), `tls.rootCertificates` builds the whole CA list. require() leaves
// the getters alone, so runtime code takes these built-ins from here. Loaders rather than
// constants: a module that only re-exports them (the plugin kit) loads nothing, and node:tls
// (~2.5 MB of RSS) loads only for a config whose plugins use it.
import { createRequire } from 'node:module';
import type * as Http from 'node:http';
import type * as Http2 from 'node:http2';
import type * as Tls from 'node:tls';

const require = createRequire(import.meta.url);

/** node:http without its lazy getters. */
export const loadHttp = (): typeof Http => require('node:http') as typeof Http;
/** node:tls without its lazy getters; ~2.5 MB of RSS the first time. */
export const loadTls = (): typeof Tls => require('node:tls') as typeof Tls;
/**
 * node:http2 on first use: loading it (and making a server) costs ~2 MB of RSS, which an agent
 * whose clients all speak HTTP/1.1 never needs to pay.
 */
export const loadHttp2 = (): typeof Http2 => require('node:http2') as typeof Http2;
