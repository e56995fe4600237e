// The fast path's request-head parser: keep-alive as RFC 9112 section 9.3 has it (HTTP/1.1
// persistent unless "close"; HTTP/1.0 only with "keep-alive"), tokens matched without case, and
// an Upgrade token sending the request to Node's server.
import { describe, expect, it } from 'vitest';
import { type PlainRequest, parsePlainHead } from '../../../../plugins/tls-terminator/http/request-head.ts';

const keepAlive = (version: string, connection?: string): boolean | string => {
  const r = parsePlainHead(`GET / HTTP/${version}\r\nHost: a${connection === undefined ? '' : `\r\nConnection: ${connection}`}`);
  return typeof r === 'string' ? r : (r as PlainRequest).keepAlive;
};

describe('parsePlainHead, Connection', () => {
  it('keeps HTTP/1.1 connections unless the client says close, in any case and in a list', () => {
    expect(keepAlive('1.1')).toBe(true);
    expect(keepAlive('1.1', 'keep-alive')).toBe(true);
    for (const v of ['close', 'Close', 'CLOSE', 'x-secret, close', 'close , keep-alive']) expect(keepAlive('1.1', v), v).toBe(false);
  });

  it('keeps HTTP/1.0 connections only with keep-alive, in any case and in a list', () => {
    expect(keepAlive('1.0')).toBe(false);
    for (const v of ['keep-alive', 'Keep-Alive', 'KEEP-ALIVE', 'x-secret, keep-alive']) expect(keepAlive('1.0', v), v).toBe(true);
    expect(keepAlive('1.0', 'keep-alive, close')).toBe(false);
  });

  it('hands an Upgrade token to Node, whatever else the header lists', () => {
    expect(keepAlive('1.1', 'Upgrade')).toBe('upgrade');
    expect(keepAlive('1.1', 'keep-alive, upgrade')).toBe('upgrade');
  });
});
