// `name [group]`, as keepalived.conf writes a user after script_user, a notify line or a
// checker's `user`: read here, in the config layer, for the config's own derivations and for the
// script runner alike.

/** `name [group]` as written; undefined for nothing but blanks. */
export function parseUserWords(words: string): { user: string; group?: string } | undefined {
  const [user, group] = words.trim().split(/\s+/);
  if (!user) return undefined;
  return group ? { user, group } : { user };
}
