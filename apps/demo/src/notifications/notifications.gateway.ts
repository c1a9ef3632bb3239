import { WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Server } from 'socket.io';

/** Room of every authenticated socket of a user (joined by the adapter at the handshake). */
export const userRoom = (userId: string): string => `user:${userId}`;

/**
 * The Socket.IO side of notifications: emits to users' rooms. Through the Redis adapter an emit
 * reaches the user's sockets on every instance.
 */
@WebSocketGateway()
export class NotificationsGateway {
  @WebSocketServer() private readonly server?: Server;

  toUsers(userIds: readonly string[], event: string, payload: unknown): void {
    const rooms = [...new Set(userIds)].map(userRoom);
    if (!this.server || rooms.length === 0) return;
    this.server.to(rooms).emit(event, payload);
  }
}
