// A loopback port that was free a moment ago, for configs that need a fixed port. Its own file
// (no vitest import) so the benchmarks can use it too.
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}
