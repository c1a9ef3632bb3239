/**
 * Where the app listens. Loopback by default: exposing the app is a decision (HOST=0.0.0.0 in a
 * container), not an accident. A bad PORT stops start-up instead of silently using another port.
 */
export function listenAddress(env: Readonly<Record<string, string | undefined>>, defaultPort: number): { host: string; port: number } {
  const host = env.HOST?.trim() || '127.0.0.1';
  const raw = env.PORT?.trim();
  if (!raw) return { host, port: defaultPort };
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port < 1 || port > 65_535) {
    throw new Error(`PORT must be an integer from 1 to 65535 (got ${JSON.stringify(raw)})`);
  }
  return { host, port };
}
