// The modules the agent takes other than by a static ES import, each for the idle RSS it saves.
// Everything else is an ES import. Figures: idle RSS of the image build with every built-in
// plugin configured, three starts each, interleaved in one run against the same code with an ES
// import instead (bench/idle-rss-ab.ts; docs/decisions/0012-modules-loaded-for-memory.md).
// Loaders rather than constants where a plugin is the user: a module that only re-exports them
// (the plugin kit) loads nothing, and node:tls (~2.5 MB of RSS) loads only for a config whose
// plugins use it.
import { createRequire } from 'node:module';
import type * as Http from 'node:http';
import type * as Http2 from 'node:http2';
import type * as Tls from 'node:tls';
import type * as Util from 'node:util';
import type * as Pino from 'pino';
import type * as ReadTlsClientHello from 'read-tls-client-hello';

const require = createRequire(import.meta.url);

// An ES import of a built-in reads every export, and that runs its lazy getters: Node 22's
// `http.WebSocket` loads the bundled undici, `tls.rootCertificates` builds the whole CA list.
// process.getBuiltinModule() returns the module object and leaves them alone.
// ES imports of these two: +4.3 MB (70.8 -> 75.1 MB, medians).
/** node:http without its lazy getters. */
export const loadHttp = (): typeof Http => process.getBuiltinModule('node:http');
/** node:tls without its lazy getters; ~2.5 MB of RSS the first time. */
export const loadTls = (): typeof Tls => process.getBuiltinModule('node:tls');

/** node:http2 on first use: ~2 MB that an agent whose clients all speak HTTP/1.1 never pays. */
export const loadHttp2 = (): typeof Http2 => process.getBuiltinModule('node:http2');

/** node:util, for error paths only. An ES import: +0.4 MB (70.8 -> 71.2 MB). */
export const loadUtil = (): typeof Util => process.getBuiltinModule('node:util');

// CommonJS packages through require(): an ES import has Node scan their sources for export names
// and load them through its CommonJS-in-ESM translator.
// pino: an ES import +0.6 MB (71.3 -> 71.9 MB).
export const { pino } = require('pino') as typeof Pino;

/**
 * read-tls-client-hello, for the tls-terminator (loaded with it, not by the agent's core). ES
 * imports of it and pino together: +10.1 MB (70.8 -> 80.9 MB; 77.5-81.4 over three starts), so
 * about 9.5 MB for this one.
 */
export const loadReadTlsClientHello = (): typeof ReadTlsClientHello => require('read-tls-client-hello') as typeof ReadTlsClientHello;
