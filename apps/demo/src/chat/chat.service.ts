import { Injectable, NotFoundException } from '@nestjs/common';
import { HistoryInputError, MessageHistory, PresenceService, type HistoryMessage } from 'nestjs-redis-kit';
import { TripsService } from '../trips/trips.service.js';
import { chatError } from './chat.input.js';

/** The Socket.IO room and history stream of a trip's chat. */
export const tripRoom = (tripId: number): string => `trip:${tripId}`;

/** A chat message as clients see it. */
export interface ChatMessage extends HistoryMessage {
  tripId: number;
}

/**
 * Trip chat over the library's history and presence: messages are kept per trip in a capped stream,
 * who is online is shared by every instance.
 */
@Injectable()
export class ChatService {
  constructor(
    private readonly trips: TripsService,
    private readonly history: MessageHistory,
    private readonly presence: PresenceService,
  ) {}

  /** Throws the client-facing error when the trip does not exist. */
  async assertTrip(tripId: number, event: string): Promise<void> {
    try {
      await this.trips.get(tripId);
    } catch (error) {
      if (error instanceof NotFoundException) throw chatError('E_TRIP_NOT_FOUND', `trip ${tripId} does not exist`, event);
      throw error;
    }
  }

  async append(tripId: number, from: string, body: string, mid?: string): Promise<ChatMessage> {
    try {
      const stored = await this.history.append(tripRoom(tripId), { from, body, ...(mid === undefined ? {} : { mid }) });
      return { ...stored, tripId };
    } catch (error) {
      if (error instanceof HistoryInputError) throw chatError('E_CHAT_INPUT', `send: ${error.message}`, 'send');
      throw error;
    }
  }

  async messages(tripId: number, since?: string): Promise<ChatMessage[]> {
    const room = tripRoom(tripId);
    const list = since === undefined ? await this.history.last(room, 50) : await this.history.since(room, since, 100);
    return list.map((m) => ({ ...m, tripId }));
  }

  online(tripId: number): Promise<string[]> {
    return this.presence.onlineUsers(tripRoom(tripId));
  }
}
