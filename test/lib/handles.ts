// Leak checks for the checker tests: the process's active handles (sockets, timers, ...) by kind,
// to compare before and after thousands of attempts, and a short wait for closes to land.

export function handles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const h of process.getActiveResourcesInfo()) counts[h] = (counts[h] ?? 0) + 1;
  return counts;
}

/** A few turns of the event loop, for closes and cleared timers to be reflected. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 20));
}
