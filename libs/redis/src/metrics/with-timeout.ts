/** `value`, or a rejection after `ms`: a scrape or a status view must not hang on a store that does not answer. */
export function withTimeout<T>(value: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), ms);
  });
  return Promise.race([value, timeout]).finally(() => clearTimeout(timer));
}
