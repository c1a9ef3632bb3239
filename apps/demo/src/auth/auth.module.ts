import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { AdminGuard, AuthGuard, GATEWAY_SECRET } from './auth.guard.js';
import { UsersRepository } from './auth.repository.js';
import { AuthController } from './auth.controller.js';
import { AuthService } from './auth.service.js';

/** Login, refresh, logout and the caller's devices; exports the guards every feature uses. */
@Module({
  controllers: [AuthController],
  providers: [
    AuthService,
    UsersRepository,
    AuthGuard,
    AdminGuard,
    {
      provide: GATEWAY_SECRET,
      inject: [ConfigService],
      useFactory: (config: ConfigService): Buffer | null => {
        const secret = config.get<string>('GATEWAY_SHARED_SECRET') ?? '';
        if (secret === '') return null;
        // A guessable secret would let anyone who reaches the demo directly act as any user.
        if (secret.length < 16) throw new Error('GATEWAY_SHARED_SECRET must be at least 16 characters');
        return Buffer.from(secret);
      },
    },
  ],
  exports: [AuthGuard, AdminGuard, GATEWAY_SECRET, UsersRepository],
})
export class AuthModule {}
