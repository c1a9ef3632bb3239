import type { IoAdapter } from '@nestjs/platform-socket.io';

// Socket.IO types as Nest's adapter sees them: Nest may carry its own copy of socket.io, and types
// from two copies do not mix.
export type IoServer = ReturnType<IoAdapter['createIOServer']>;
export type IoServerOptions = NonNullable<Parameters<IoAdapter['createIOServer']>[1]>;
export type IoNamespace = ReturnType<IoServer['of']>;
export type IoSocket = Parameters<Parameters<IoNamespace['use']>[0]>[0];
