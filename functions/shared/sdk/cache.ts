/**
 * One SDK client per service per process, created on first use. Each service has its own module
 * (sdk/ec2.ts, ...) so a function's bundle holds only the clients its step calls.
 */
const clients = new Map<string, unknown>();

export function cachedClient<T>(key: string, make: () => T): T {
  if (!clients.has(key)) clients.set(key, make());
  return clients.get(key) as T;
}

/** For the CLI and tests, which change the endpoint between runs in one process. */
export function resetClientCache(): void {
  clients.clear();
}
