import { Controller, Sse, type MessageEvent } from '@nestjs/common';
import { map, type Observable } from 'rxjs';
import { NotificationsService } from './notifications.service.js';

@Controller('notifications')
export class NotificationsController {
  constructor(private readonly notifications: NotificationsService) {}

  /** Server-sent events: `event: booking`, data = the booking notification as JSON. */
  @Sse('stream')
  stream(): Observable<MessageEvent> {
    return this.notifications.stream().pipe(map((n) => ({ type: n.type, data: n })));
  }
}
