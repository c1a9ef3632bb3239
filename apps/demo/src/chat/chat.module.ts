import { Module } from '@nestjs/common';
import { TripsModule } from '../trips/trips.module.js';
import { ChatGateway } from './chat.gateway.js';
import { ChatService } from './chat.service.js';

@Module({
  imports: [TripsModule],
  providers: [ChatGateway, ChatService],
})
export class ChatModule {}
