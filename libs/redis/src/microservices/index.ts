// nestjs-redis-kit/microservices: needs @nestjs/microservices (an optional peer of the main entry).
export { RpcRateLimitGuard } from './rpc-rate-limit.guard.js';
export { TransportRateLimitGuard, type TransportPeer } from '../rate-limit/rate-limit.transport-guard.js';
