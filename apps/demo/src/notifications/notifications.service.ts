import { Injectable, Logger, type BeforeApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { PubSubService } from 'nestjs-redis-kit';
import { Subject, type Observable } from 'rxjs';
import type { Booking } from '../trips/trips.repository.js';
import { NotificationsGateway } from './notifications.gateway.js';

export const BOOKINGS_CHANNEL = 'demo:bookings';

/** What SSE clients receive for each booking (no user id: the stream is public). */
export interface BookingNotification {
  type: 'booking';
  tripId: number;
  organizerId: string;
  seats: number;
  at: string;
}

/**
 * What the traveller's and the trip creator's sockets receive as the `booking` event (they are
 * the two users concerned, so it names them).
 */
export interface UserBookingNotification extends BookingNotification {
  bookingId: number;
  travellerId: string;
}

/**
 * Bookings published on Redis pub/sub and fanned out to this instance's SSE clients, so a booking
 * made on any instance reaches clients connected to every instance.
 */
@Injectable()
export class NotificationsService implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger('Notifications');
  private readonly events = new Subject<BookingNotification>();
  private unsubscribe?: () => Promise<void>;

  constructor(
    private readonly pubsub: PubSubService,
    private readonly sockets: NotificationsGateway,
  ) {}

  async onModuleInit(): Promise<void> {
    this.unsubscribe = await this.pubsub.subscribe<BookingNotification>(BOOKINGS_CHANNEL, (message) => this.events.next(message));
  }

  // Before, not on, application shutdown: Nest closes the HTTP server in between, and that waits
  // for open responses. Completing ends every stream, so shutdown does not wait on listening clients.
  async beforeApplicationShutdown(): Promise<void> {
    this.events.complete();
    await this.unsubscribe?.();
  }

  stream(): Observable<BookingNotification> {
    return this.events.asObservable();
  }

  async bookingMade(booking: Booking): Promise<void> {
    const message: BookingNotification = { type: 'booking', tripId: booking.tripId, organizerId: booking.organizerId, seats: booking.seats, at: booking.createdAt };
    try {
      await this.pubsub.publish(BOOKINGS_CHANNEL, message);
    } catch (error) {
      // The booking is committed; a lost notification must not turn it into an error for the client.
      this.logger.warn(`Booking notification not published: ${error instanceof Error ? error.message : String(error)}`);
    }
    const personal: UserBookingNotification = { ...message, bookingId: booking.id, travellerId: booking.userId };
    try {
      this.sockets.toUsers([booking.userId, ...(booking.createdBy ? [booking.createdBy] : [])], 'booking', personal);
    } catch (error) {
      this.logger.warn(`Booking notification not sent to sockets: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
