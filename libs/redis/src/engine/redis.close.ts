import type { Cluster, Redis } from 'ioredis';

/**
 * Disconnects and waits until ioredis says the connection has ended. A socket still connecting is
 * only destroyed after `disconnectTimeout`, and that timer would otherwise outlive the app (and
 * show up as an open handle in tests); waiting for 'end' keeps shutdown honest and complete.
 * A client waiting to reconnect has no socket: `disconnect()` only cancels the retry and ioredis
 * never emits 'end' for it, so it is done at once. The safety timer is not unref'd: shutdown keeps
 * the process alive until it has finished, rather than the process exiting half-way through.
 */
export function disconnectAndWait(client: Redis | Cluster, timeoutMs = 3_000): Promise<void> {
  if (client.status === 'end') return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    function done() {
      clearTimeout(timer);
      client.off('end', done);
      resolve();
    }
    client.once('end', done);
    const idle = client.status === 'reconnecting' || client.status === 'wait';
    client.disconnect();
    if (idle || client.status === 'end') done();
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
