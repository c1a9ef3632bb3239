import { defineScript } from '../script.registry.js';

/** Atomic operations of the message history. */

export const HISTORY_APPEND = defineScript({
  name: 'history-append',
  version: 1,
  file: 'history-append.lua',
  twin: (store, [stream, index], [mid, capText, tsText, from, body], nowMs) => {
    const known = store.hget(index!, mid!);
    if (known !== null && /^\d+-\d+$/.test(known)) {
      const [found] = store.xrange(stream!, known, known);
      if (found && found.fields.mid === mid) return [known, found.fields.ts ?? '', found.fields.from ?? '', found.fields.body ?? '', 0];
    }
    const cap = Number(capText);
    const length = store.xlen(stream!);
    if (length >= cap) {
      for (const entry of store.xrange(stream!, '-', '+', length - cap + 1)) {
        const doomed = entry.fields.mid;
        if (doomed !== undefined && store.hget(index!, doomed) === entry.id) store.hdel(index!, [doomed]);
      }
    }
    const ts = tsText === '' ? String(nowMs) : tsText!;
    const id = store.xadd(stream!, { mid: mid!, ts, from: from!, body: body! }, nowMs, cap);
    store.hset(index!, { [mid!]: id });
    return [id, ts, from!, body!, 1];
  },
});
