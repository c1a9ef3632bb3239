import { createServer, connect, type Server, type Socket } from 'node:net';
import { freePort } from './free-port.js';

/** A TCP hop between one instance and Redis that can be cut and restored: a network partition. */
export class Partition {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  constructor(
    readonly port: number,
    private readonly target: number,
  ) {}

  static async open(target: number): Promise<Partition> {
    const p = new Partition(await freePort(), target);
    await p.heal();
    return p;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  heal(): Promise<void> {
    if (this.server) return Promise.resolve();
    this.server = createServer((client) => {
      const upstream = connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => this.sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    return new Promise((resolve) => this.server!.listen(this.port, '127.0.0.1', () => resolve()));
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}
