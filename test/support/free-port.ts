import { createServer } from 'node:net';

/** Redis Cluster listens on `port + 10000` for its bus, so a node port above this leaves no room for the bus. */
export const CLUSTER_BUS_OFFSET = 10_000;
const MAX_CLUSTER_PORT = 65_535 - CLUSTER_BUS_OFFSET;

// The kernel may hand the same port back to two callers before either has started a server on it;
// remembering what we gave out avoids racing ourselves (other processes are handled by start retries).
const handedOut = new Set<number>();

function listenOnce(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

/** A loopback TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await listenOnce(0);
    if (port !== undefined && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freePort: could not find a free loopback port in 50 attempts');
}

/** A port where both `port` and its cluster bus port `port + 10000` are free (port ≤ 55535). */
export async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = await listenOnce(0);
    if (port === undefined || port > MAX_CLUSTER_PORT) continue;
    const bus = port + CLUSTER_BUS_OFFSET;
    if (handedOut.has(port) || handedOut.has(bus)) continue;
    // Claim both before the next await, so concurrent callers cannot pick the same pair.
    handedOut.add(port);
    handedOut.add(bus);
    if ((await listenOnce(bus)) !== undefined) return port;
    handedOut.delete(port);
    handedOut.delete(bus);
  }
  throw new Error(`freePortPair: no port ≤ ${MAX_CLUSTER_PORT} with a free bus port (+${CLUSTER_BUS_OFFSET}) in 200 attempts`);
}
