/** Redis' own wording, so callers and the contract suite see the same errors from both engines. */
export const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';

/** A command the memory store refuses as Redis would (wrong type, bad argument), with Redis' message. */
export class StoreTypeError extends Error {}
