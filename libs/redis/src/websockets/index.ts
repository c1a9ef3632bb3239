// nestjs-redis-kit/websockets: needs @nestjs/websockets (an optional peer of the main entry).
export { WsRateLimitGuard } from './ws-rate-limit.guard.js';
export { TransportRateLimitGuard, type TransportPeer } from '../rate-limit/rate-limit.transport-guard.js';
