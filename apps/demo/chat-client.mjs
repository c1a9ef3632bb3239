// A tiny client for the demo's trip chat, through the gateway:
//   node apps/demo/chat-client.mjs bob@example.com 1            join trip 1, print its history and who is online, then follow it
//   node apps/demo/chat-client.mjs carol@example.com 1 "Hello"  the same, send "Hello", and exit
// GATEWAY_URL (default http://127.0.0.1:3001) and DEMO_PASSWORD (default demo-password) change the target.
import { io } from 'socket.io-client';

const [email = 'bob@example.com', trip = '1', text] = process.argv.slice(2);
const base = (process.env.GATEWAY_URL ?? 'http://127.0.0.1:3001').replace(/\/+$/, '');
const tripId = Number(trip);
if (!Number.isSafeInteger(tripId) || tripId < 1) {
  console.error(`usage: node apps/demo/chat-client.mjs <email> <tripId> [message] (tripId must be a positive integer, got ${JSON.stringify(trip)})`);
  process.exit(2);
}

const login = await fetch(`${base}/api/auth/login`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ email, password: process.env.DEMO_PASSWORD ?? 'demo-password' }),
});
if (!login.ok) {
  console.error(`login failed: ${login.status} ${await login.text()}`);
  process.exit(1);
}
const { sessionId } = await login.json();

const socket = io(base, { auth: { token: sessionId } });
const fail = (message) => {
  console.error(message);
  socket.disconnect();
  process.exitCode = 1;
};
const line = (m) => `${new Date(m.ts).toISOString().slice(11, 19)} [trip ${m.tripId}] ${m.from}: ${m.body}`;

socket.on('connect_error', (error) => fail(`could not connect: ${error.message}`));
// Errors come as the `exception` event: { status: 'error', code, message }.
socket.on('exception', (error) => fail(`${error.code ?? 'error'}: ${error.message}`));
socket.on('message', (m) => console.log(line(m)));
socket.on('booking', (b) => console.log(`booking: ${b.seats} seat(s) on trip ${b.tripId} by ${b.travellerId}`));
socket.on('connect', async () => {
  try {
    // Rooms do not survive a reconnect: join on every connect.
    await socket.timeout(5_000).emitWithAck('join', { tripId });
    const { messages } = await socket.timeout(5_000).emitWithAck('history', { tripId });
    for (const m of messages) console.log(line(m));
    const { users } = await socket.timeout(5_000).emitWithAck('online', { tripId });
    console.log(`online on trip ${tripId}: ${users.join(', ')}`);
    if (text !== undefined) {
      await socket.timeout(5_000).emitWithAck('send', { tripId, body: text });
      socket.disconnect();
    }
  } catch (error) {
    if (socket.connected) fail(`no answer: ${error.message}`);
  }
});
