import type { Cluster, Redis } from 'ioredis';

/**
 * Disconnects and waits until ioredis says the connection has ended. A socket still connecting is
 * only destroyed after `disconnectTimeout`, and that timer would otherwise outlive the app (and
 * show up as an open handle in tests); waiting for 'end' keeps shutdown honest and complete.
 */
export function disconnectAndWait(client: Redis | Cluster, timeoutMs = 3_000): Promise<void> {
  if (client.status === 'end') return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    function done() {
      clearTimeout(timer);
      client.off('end', done);
      resolve();
    }
    client.once('end', done);
    client.disconnect();
    if (client.status === 'end') done();
  });
}

/** QUIT when the server is answering (in-flight replies arrive), else a plain disconnect. */
export async function closeClient(client: Redis | Cluster): Promise<void> {
  if (client.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    // A Redis that stopped answering must not hold up shutdown.
    await Promise.race([client.quit().catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000)))]);
    clearTimeout(timer);
  }
  await disconnectAndWait(client);
}
