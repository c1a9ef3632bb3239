/** A message of a room's history, as stored. */
export interface HistoryMessage {
  /** The stream id, `<ms>-<seq>`: increasing within a room; pass it to `since` to read what came after. */
  id: string;
  /** The message's unique id: given by the caller, or generated. Appending one mid twice stores it once. */
  mid: string;
  room: string;
  from: string;
  body: string;
  /** Epoch ms when the message was first appended (kept when an outage write is replayed later). */
  ts: number;
}

/** What `MessageHistory.append` takes: exactly these fields. */
export interface HistoryMessageInput {
  /** Who sent it: a non-empty string of up to 256 characters (a user id). */
  from: string;
  /** The text: non-empty; with `from`, at most `history.maxMessageBytes` UTF-8 bytes. */
  body: string;
  /** Up to 128 characters of `[A-Za-z0-9_.:-]`; generated when absent. Pass one to retry an append safely. */
  mid?: string;
}
