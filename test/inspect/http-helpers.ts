import { createServer, type IncomingMessage, request, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { action, type Operation, resource, until } from "effection";

/** A real `node:http` server on 127.0.0.1 and an ephemeral port, closed with the scope. */
export function useTestServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Operation<{ url: string }> {
  return resource(function* (provide) {
    const server = createServer(handler);
    yield* action<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
      return () => {};
    });
    try {
      const { port } = server.address() as AddressInfo;
      yield* provide({ url: `http://127.0.0.1:${port}` });
    } finally {
      server.closeAllConnections();
      yield* action<void>((resolve) => {
        server.close(() => resolve());
        return () => {};
      });
    }
  });
}

export interface TestResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request on its own connection (no keep-alive, so nothing stays open). */
export function httpRequest(
  url: string,
  method = "GET",
  headers: Record<string, string> = {},
): Operation<TestResponse> {
  return until(
    new Promise<TestResponse>((resolve, reject) => {
      const req = request(url, { method, agent: false, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end();
    }),
  );
}
