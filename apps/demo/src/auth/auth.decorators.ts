import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { AuthRequest, AuthUser } from './auth.user.js';

/** The caller established by AuthGuard (use only on guarded handlers). */
export const CurrentUser = createParamDecorator((_data: unknown, context: ExecutionContext): AuthUser => {
  const user = context.switchToHttp().getRequest<AuthRequest>().user;
  if (!user) throw new Error('@CurrentUser() used on a route without AuthGuard');
  return user;
});
