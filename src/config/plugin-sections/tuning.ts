// The part of a user's own `plugins.NAME` section a derived section takes: the keys keepalived
// has no keyword for (timeouts, retries, ...). The rest of the section comes from the keywords.

/** The keys of `written` (the user's section, as written) among `keys`. */
export function tuning<K extends string>(written: unknown, keys: readonly K[]): Partial<Record<K, unknown>> {
  if (typeof written !== 'object' || written === null || Array.isArray(written)) return {};
  const out: Partial<Record<K, unknown>> = {};
  for (const k of keys) if ((written as Record<string, unknown>)[k] !== undefined) out[k] = (written as Record<string, unknown>)[k];
  return out;
}

/** The keys of the user's section that a derived section does not take. */
export function ignoredKeys(written: unknown, keys: readonly string[]): string[] {
  if (typeof written !== 'object' || written === null || Array.isArray(written)) return [];
  return Object.keys(written).filter((k) => !keys.includes(k));
}
