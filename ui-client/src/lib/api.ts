/** GraphQL over HTTP and over graphql-transport-ws, with the token of the session. */
import { createClient, type Client } from "graphql-ws";

/** An error the API returned, with its `extensions.code`. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    /** The error's parameters (`status`, `command`, …) from `extensions`. */
    readonly params: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

interface GqlResponse<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } & Record<string, unknown> }>;
}

/** The first error of a GraphQL response as an ApiError, or the data. */
export function unwrap<T>(body: GqlResponse<T>): T {
  if (body.errors && body.errors.length > 0) {
    const e = body.errors[0];
    throw new ApiError(e.message, e.extensions?.code ?? "ERROR", e.extensions ?? {});
  }
  if (body.data == null) throw new ApiError("empty response", "ERROR");
  return body.data;
}

/** One query or mutation. */
export async function gql<T>(query: string, variables: Record<string, unknown>, token: string | null): Promise<T> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  } catch (e) {
    throw new ApiError(`the server cannot be reached: ${(e as Error).message}`, "NETWORK");
  }
  let body: GqlResponse<T>;
  try {
    body = await res.json();
  } catch {
    throw new ApiError(`the server answered ${res.status}`, res.status === 429 ? "RATE_LIMITED" : "HTTP_" + res.status);
  }
  return unwrap(body);
}

let client: Client | null = null;
let clientToken: string | null = null;

function wsClient(token: string): Client {
  if (client && clientToken === token) return client;
  client?.dispose();
  const proto = location.protocol === "https:" ? "wss" : "ws";
  client = createClient({
    url: `${proto}://${location.host}/graphql/ws`,
    connectionParams: { token },
    retryAttempts: Infinity,
    // A refused token will not get better by retrying; the server closes with 4401/4403.
    shouldRetry: (e) => !(e && typeof e === "object" && "code" in e && [4401, 4403].includes((e as CloseEvent).code)),
    retryWait: async (n) => new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** n, 15000))),
  });
  clientToken = token;
  return client;
}

/** A live subscription; returns its stop function. */
export function subscribe<T>(
  query: string,
  variables: Record<string, unknown>,
  token: string,
  onData: (data: T) => void,
  onError: (e: ApiError) => void,
): () => void {
  return wsClient(token).subscribe<T>(
    { query, variables },
    {
      next: (msg) => {
        try {
          onData(unwrap(msg as GqlResponse<T>));
        } catch (e) {
          onError(e as ApiError);
        }
      },
      error: (e) => {
        const err = e as { code?: number; reason?: string; message?: string };
        onError(
          Array.isArray(e)
            ? new ApiError(e[0]?.message ?? "subscription failed", e[0]?.extensions?.code ?? "ERROR")
            : new ApiError(err.reason || err.message || "the live connection closed", String(err.code ?? "WS")),
        );
      },
      complete: () => {},
    },
  );
}

/** Drops the live connection (logout). */
export function disconnect() {
  client?.dispose();
  client = null;
  clientToken = null;
}

/** A file the API serves behind the token, saved by the browser. */
export async function download(url: string, token: string, filename: string) {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new ApiError(`${res.status}: ${await res.text()}`, "HTTP_" + res.status);
  const blob = await res.blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** One page of a `requests` connection. */
export interface Connection<T> {
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  edges: Array<{ node: T }>;
}

/**
 * Every node of a paged list, page by page, up to `maxPages`. The API costs a
 * page's whole selection per row, so pages stay small and `totalCount` is not
 * asked. `query` takes `$after` and `$first` and names its connection `list`.
 */
export async function fetchAll<T>(
  query: string,
  variables: Record<string, unknown>,
  token: string | null,
  pageSize = 30,
  maxPages = 30,
): Promise<T[]> {
  const nodes: T[] = [];
  let after: string | null = null;
  for (let page = 0; page < maxPages; page++) {
    const d: { list: Connection<T> } = await gql<{ list: Connection<T> }>(
      query,
      { ...variables, after, first: pageSize },
      token,
    );
    nodes.push(...d.list.edges.map((e) => e.node));
    if (!d.list.pageInfo.hasNextPage || !d.list.pageInfo.endCursor) break;
    after = d.list.pageInfo.endCursor;
  }
  return nodes;
}
