// Serves a Lambda API Gateway (REST, proxy) handler over node:http, as API Gateway would call it:
// the local runtime's admin API is the real handler behind this.
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from "aws-lambda";

export type ProxyHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

export interface HttpApi {
  url: string;
  port: number;
  close(): Promise<void>;
}

// API Gateway refuses payloads over 10 MB; reading stops there too.
const MAX_READ = 10 * 1024 * 1024;

export async function startHttpApi(handler: ProxyHandler, { port = 0, host = "127.0.0.1" } = {}): Promise<HttpApi> {
  const server = createServer(async (req, res) => {
    try {
      const result = await handler(await toEvent(req));
      res.writeHead(result.statusCode, result.headers as Record<string, string> | undefined).end(result.body);
    } catch {
      if (!res.headersSent) res.writeHead(502, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "INTERNAL", message: "the handler failed" } }));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${actual}`,
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function toEvent(req: IncomingMessage): Promise<APIGatewayProxyEvent> {
  const url = new URL(req.url ?? "/", "http://local");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_READ) break;
    chunks.push(chunk);
  }
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    headers[key] = values.join(",");
    multiValueHeaders[key] = values;
  }
  const query = [...url.searchParams.keys()];
  return {
    httpMethod: req.method ?? "GET",
    path: url.pathname,
    resource: url.pathname,
    headers,
    multiValueHeaders,
    queryStringParameters: query.length ? Object.fromEntries(url.searchParams) : null,
    multiValueQueryStringParameters: query.length ? Object.fromEntries(query.map((k) => [k, url.searchParams.getAll(k)])) : null,
    pathParameters: null,
    stageVariables: null,
    body: chunks.length ? Buffer.concat(chunks).toString("utf8") : null,
    isBase64Encoded: false,
    requestContext: {
      httpMethod: req.method ?? "GET",
      path: url.pathname,
      stage: "local",
      requestId: crypto.randomUUID(),
      requestTimeEpoch: Date.now(),
      identity: { sourceIp: req.socket.remoteAddress ?? "" },
    } as APIGatewayProxyEvent["requestContext"],
  };
}
