import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { useSocketIo } from './chat/chat.adapter.js';
import { listenAddress } from './listen-address.util.js';

async function bootstrap(): Promise<void> {
  const { host, port } = listenAddress(process.env, 3000);
  const app = await NestFactory.create(AppModule);
  // Lets RedisConnection close its client on SIGTERM instead of the process dying mid-command.
  app.enableShutdownHooks();
  // Trip chat and booking notifications over Socket.IO, on the same port as the HTTP API.
  useSocketIo(app);
  await app.listen(port, host);
  new Logger('Demo').log(`Listening on http://${host.includes(':') ? `[${host}]` : host}:${port}`);
}

bootstrap().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
