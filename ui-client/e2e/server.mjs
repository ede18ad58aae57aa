// Starts a real `kontakt serve --demo` in a fresh data folder and reads the
// tokens and address it prints.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, "..", "..");

/** Where cargo builds this workspace: `cargo metadata` knows, whatever CARGO_TARGET_DIR says. */
function targetDir() {
  try {
    const meta = execFileSync("cargo", ["metadata", "--format-version", "1", "--no-deps"], { cwd: root, encoding: "utf8" });
    return JSON.parse(meta).target_directory;
  } catch {
    return process.env.CARGO_TARGET_DIR ? resolve(root, process.env.CARGO_TARGET_DIR) : join(root, "target");
  }
}

/** The server binary: KONTAKT_BIN, else the workspace's debug build. */
export function binary() {
  const bin = process.env.KONTAKT_BIN ?? join(targetDir(), "debug", "kontakt");
  if (!existsSync(bin)) throw new Error(`no server binary at ${bin}: run \`cargo build -p kontakt-api\` first`);
  return bin;
}

/** A running demo server: `{ base, tokens, stop() }`. */
export async function startServer(extraEnv = {}, extraArgs = []) {
  const data = mkdtempSync(join(tmpdir(), "kontakt-e2e-"));
  const dist = join(root, "ui-client", "dist");
  if (!existsSync(join(dist, "index.html"))) throw new Error(`the UI is not built in ${dist}: run \`npm run build\``);
  const child = spawn(binary(), ["serve", "--demo", "--data", data, "--listen", "127.0.0.1:0", ...extraArgs], {
    env: {
      ...process.env,
      KONTAKT_JWT_SECRET: "e2e-secret-e2e-secret-e2e-secret-0123456789",
      KONTAKT_LOG: "warn",
      KONTAKT__UI__DIR: dist,
      ...extraEnv,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const tokens = {};
  const base = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error("the server did not start in 120 s")), 120_000);
    child.on("exit", (code) => fail(new Error(`the server exited with ${code}`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const tok = /^KONTAKT_TOKEN role=(\S+) org=(\S+) token=(\S+)/.exec(line);
      if (tok) tokens[tok[2] === "-" ? tok[1] : tok[2]] = tok[3];
      const url = /^KONTAKT_LISTENING (\S+)/.exec(line);
      if (url) {
        clearTimeout(timer);
        ok(url[1]);
      }
    });
  });
  return {
    base,
    tokens,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r() : child.on("exit", r)));
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/** One GraphQL operation with a token; throws on errors. */
export async function gql(base, token, query, variables = {}) {
  const res = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(`GraphQL: ${JSON.stringify(body.errors)}`);
  return body.data;
}
