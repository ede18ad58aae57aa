import { defineConfig } from "vitest/config";

// `npm run dev` proxies the API to a running `kontakt serve`; the build is served by the server itself.
const api = process.env.KONTAKT_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 400 },
  server: {
    proxy: {
      "/graphql/ws": { target: api.replace(/^http/, "ws"), ws: true },
      "/graphql": api,
      "/public": api,
      "/open311": api,
      "/reports": api,
    },
  },
  test: { include: ["test/**/*.test.ts"], environment: "node" },
});
