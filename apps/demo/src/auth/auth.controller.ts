import { Body, Controller, Delete, Get, HttpCode, Param, Post, Req, UseGuards } from '@nestjs/common';
import { AuthGuard } from './auth.guard.js';
import { CurrentUser } from './auth.decorators.js';
import { LoginDto, RefreshDto, SessionHandleParams } from './auth.dto.js';
import { AuthService } from './auth.service.js';
import { bearerToken, type AuthUser } from './auth.user.js';

interface ClientRequest {
  headers: Record<string, string | string[] | undefined>;
  ip?: string;
}

@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Post('login')
  @HttpCode(200)
  login(@Body() body: LoginDto, @Req() req: ClientRequest) {
    const ua = req.headers['user-agent'];
    return this.auth.login(body.email, body.password, { userAgent: Array.isArray(ua) ? ua[0] : ua, ip: req.ip });
  }

  @Post('refresh')
  @HttpCode(200)
  refresh(@Body() body: RefreshDto) {
    return this.auth.refresh(body.refreshToken);
  }

  /**
   * No AuthGuard: ending a session needs only its id (whoever holds it may end it), and it must
   * work while sessions cannot be checked (Redis away), when the revocation is journaled.
   */
  @Post('logout')
  @HttpCode(200)
  logout(@Req() req: ClientRequest) {
    return this.auth.logout(bearerToken(req.headers));
  }

  @Post('logout-all')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  logoutAll(@CurrentUser() user: AuthUser) {
    return this.auth.logoutAll(user);
  }

  @Get('sessions')
  @UseGuards(AuthGuard)
  sessions(@CurrentUser() user: AuthUser) {
    return this.auth.list(user);
  }

  @Delete('sessions/:id')
  @UseGuards(AuthGuard)
  revoke(@CurrentUser() user: AuthUser, @Param() params: SessionHandleParams) {
    return this.auth.revokeHandle(user, params.id);
  }
}
