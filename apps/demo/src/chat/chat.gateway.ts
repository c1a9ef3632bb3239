import { Logger, UseGuards } from '@nestjs/common';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway, WebSocketServer, type OnGatewayConnection, type OnGatewayDisconnect } from '@nestjs/websockets';
import { PresenceService, RateLimit } from 'nestjs-redis-kit';
import { socketUser } from 'nestjs-redis-kit/socket.io';
import { WsRateLimitGuard } from 'nestjs-redis-kit/websockets';
import type { Server, Socket } from 'socket.io';
import { chatError, parseHistory, parseSend, parseTripRef } from './chat.input.js';
import { ChatService, tripRoom, type ChatMessage } from './chat.service.js';

/** Budget of `send` per user, on every instance together. */
export const SEND_LIMIT = { limit: 30, window: '1m', name: 'chat-send' } as const;

/**
 * Trip chat rooms. Every socket is authenticated by the adapter (`RedisIoAdapter` with
 * `authenticate`), so `socketUser(client)` is always set here. Errors reach the client as the
 * `exception` event `{ status: 'error', code, message, event }`; successes answer the
 * acknowledgement callback.
 *
 * - `join` `{ tripId }` → `{ tripId, room }`; then `message` events for that trip
 * - `leave` `{ tripId }` → `{ tripId, left }` (false when the socket was not in the room)
 * - `send` `{ tripId, body, mid? }` → the stored message (also sent to the room as `message`)
 * - `history` `{ tripId, since? }` → `{ tripId, messages }` (the last 50, or those after `since`)
 * - `online` `{ tripId }` → `{ tripId, users }` (joined users connected to any instance)
 */
@WebSocketGateway()
@UseGuards(WsRateLimitGuard)
export class ChatGateway implements OnGatewayConnection, OnGatewayDisconnect {
  private readonly logger = new Logger('Chat');
  @WebSocketServer() private readonly server!: Server;

  constructor(
    private readonly chat: ChatService,
    private readonly presence: PresenceService,
  ) {}

  async handleConnection(client: Socket): Promise<void> {
    const userId = socketUser(client);
    if (userId === undefined) return;
    // Presence is best effort: a socket that cannot be recorded still chats.
    await this.presence.connect(userId, client.id).catch((error: unknown) => this.warn('presence connect', error));
  }

  async handleDisconnect(client: Socket): Promise<void> {
    await this.presence.disconnect(client.id).catch((error: unknown) => this.warn('presence disconnect', error));
  }

  @SubscribeMessage('join')
  async join(@ConnectedSocket() client: Socket, @MessageBody() data: unknown): Promise<{ tripId: number; room: string }> {
    const { tripId } = parseTripRef(data, 'join');
    await this.chat.assertTrip(tripId, 'join');
    const room = tripRoom(tripId);
    await client.join(room);
    await this.presence.join(client.id, room).catch((error: unknown) => this.warn('presence join', error));
    return { tripId, room };
  }

  @SubscribeMessage('leave')
  async leave(@ConnectedSocket() client: Socket, @MessageBody() data: unknown): Promise<{ tripId: number; left: boolean }> {
    const { tripId } = parseTripRef(data, 'leave');
    const room = tripRoom(tripId);
    const left = client.rooms.has(room);
    await client.leave(room);
    await this.presence.leave(client.id, room).catch((error: unknown) => this.warn('presence leave', error));
    return { tripId, left };
  }

  @SubscribeMessage('send')
  // The adapter puts the user on the socket (`data.user`), which is what `by: 'user'` keys on.
  @RateLimit({ ...SEND_LIMIT, by: 'user' })
  async send(@ConnectedSocket() client: Socket, @MessageBody() data: unknown): Promise<ChatMessage> {
    const input = parseSend(data);
    const room = tripRoom(input.tripId);
    // Joining checked the trip; a socket that did not join cannot write into the room.
    if (!client.rooms.has(room)) throw chatError('E_NOT_JOINED', `send: join trip ${input.tripId} first`, 'send');
    // Only reachable without the adapter's `authenticate` (a misconfigured boot): refuse, do not store as nobody.
    const from = socketUser(client);
    if (from === undefined) throw chatError('E_UNAUTHENTICATED', 'send: this socket has no authenticated user', 'send');
    const message = await this.chat.append(input.tripId, from, input.body, input.mid);
    this.server.to(room).emit('message', message);
    return message;
  }

  @SubscribeMessage('history')
  async history(@MessageBody() data: unknown): Promise<{ tripId: number; messages: ChatMessage[] }> {
    const { tripId, since } = parseHistory(data);
    await this.chat.assertTrip(tripId, 'history');
    return { tripId, messages: await this.chat.messages(tripId, since) };
  }

  @SubscribeMessage('online')
  async online(@MessageBody() data: unknown): Promise<{ tripId: number; users: string[] }> {
    const { tripId } = parseTripRef(data, 'online');
    await this.chat.assertTrip(tripId, 'online');
    return { tripId, users: await this.chat.online(tripId) };
  }

  private warn(what: string, error: unknown): void {
    this.logger.warn(`${what} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
