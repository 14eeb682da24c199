import type { Agent, Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** A test proxy listening on loopback. */
export interface LocalServer {
  endpoint: string;
  /** Ends open connections (kept-alive ones too), the upstream agent's pool, then the server. */
  stop(): Promise<void>;
}

/** Listens on a free port of 127.0.0.1; `agent` is the proxy's upstream pool, ended with it. */
export async function listenLocal(server: Server, agent: Agent): Promise<LocalServer> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
