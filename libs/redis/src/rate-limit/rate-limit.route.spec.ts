import { describe, expect, it } from '@jest/globals';
import 'reflect-metadata';
import { Controller, Get, Post } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { EventPattern, MessagePattern } from '@nestjs/microservices';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { RateLimit } from './rate-limit.decorator.js';
import { resolveRateLimitModuleOptions } from './rate-limit.options.js';
import { classScope, compileRoutePolicies, handlerScope } from './rate-limit.route.js';

@Controller('auth')
@RateLimit({ limit: 100, window: '1m', name: 'area' })
class AuthController {
  @Post('login')
  @RateLimit({ limit: 5, window: '1m', name: 'login' })
  login(): void {}
}

@Controller()
class RootController {
  @Get('health')
  health(): void {}
}

@WebSocketGateway({ namespace: 'chat' })
class ChatGateway {
  @SubscribeMessage('say')
  say(): void {}
}

@WebSocketGateway(8081, { path: '/ws' })
class PortGateway {
  @SubscribeMessage('say')
  say(): void {}
}

@WebSocketGateway()
class RootGateway {
  @SubscribeMessage('ping')
  ping(): void {}
}

@Controller()
class MathController {
  @MessagePattern({ op: 'sum', cmd: 'math' })
  sum(): void {}

  @EventPattern('user.created')
  created(_data: unknown): void {}

  @MessagePattern({ blob: 'x'.repeat(300) })
  big(): void {}

  helper(): void {}
}

describe('budget scopes', () => {
  it('HTTP: the route and the controller path, not class or method names', () => {
    expect(handlerScope(AuthController, AuthController.prototype.login)).toBe('POST /auth/login');
    expect(classScope(AuthController)).toBe('/auth');
  });

  it('WebSocket: port, server path and namespace, then the message', () => {
    expect(handlerScope(ChatGateway, ChatGateway.prototype.say)).toBe('ws /chat say');
    expect(classScope(ChatGateway)).toBe('ws /chat');
    expect(handlerScope(PortGateway, PortGateway.prototype.say)).toBe('ws :8081/ws say');
    expect(handlerScope(RootGateway, RootGateway.prototype.ping)).toBe('ws / ping');
  });

  it('RPC: the pattern as JSON with sorted keys, events apart from messages; long patterns hashed', () => {
    expect(handlerScope(MathController, MathController.prototype.sum)).toBe('rpc {"cmd":"math","op":"sum"}');
    expect(handlerScope(MathController, MathController.prototype.created)).toBe('event "user.created"');
    expect(handlerScope(MathController, MathController.prototype.big)).toMatch(/^#[A-Za-z0-9_-]{32}$/);
  });

  it('a class with nothing to tell it from others (root path, default namespace), or a handler with no route, falls back to names', () => {
    expect(classScope(RootController)).toBe('RootController');
    expect(classScope(RootGateway)).toBe('RootGateway');
    expect(classScope(MathController)).toBe('MathController');
    expect(handlerScope(MathController, MathController.prototype.helper)).toBe('MathController.helper');
  });

  it('compiled policies carry those scopes; errors still name the code', () => {
    const settings = resolveRateLimitModuleOptions({ defaults: [{ limit: 1000, window: '1m', name: 'global' }] });
    const policies = compileRoutePolicies(new Reflector(), AuthController, AuthController.prototype.login, settings)!;
    expect(policies.map((p) => [p.name, p.scope])).toEqual([
      ['global', 'g'],
      ['area', '/auth'],
      ['login', 'POST /auth/login'],
    ]);
    class Bad {
      @Get('x')
      @RateLimit({ limit: 0, window: '1m' })
      x(): void {}
    }
    expect(() => compileRoutePolicies(new Reflector(), Bad, Bad.prototype.x, settings)).toThrow(/@RateLimit on Bad\.x: limit must be/);
  });
});
