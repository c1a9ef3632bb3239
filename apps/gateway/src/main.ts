import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { listenAddress } from './listen-address.util.js';

async function bootstrap(): Promise<void> {
  const { host, port } = listenAddress(process.env, 3001);
  const app = await NestFactory.create(AppModule);
  // Lets RedisConnection close its client on SIGTERM instead of the process dying mid-command.
  app.enableShutdownHooks();
  await app.listen(port, host);
  new Logger('Gateway').log(`Listening on http://${host.includes(':') ? `[${host}]` : host}:${port}`);
}

bootstrap().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
