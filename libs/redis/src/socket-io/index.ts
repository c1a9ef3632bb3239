// nestjs-redis-kit/socket.io: needs socket.io, @socket.io/redis-adapter, @nestjs/platform-socket.io
// and @nestjs/websockets (optional peers of the main entry).
export { RedisIoAdapter, socketUser } from './redis-io.adapter.js';
export type { RedisIoAdapterOptions } from './redis-io.options.js';
export type { SocketSessionData } from './redis-io.auth.js';
