// What the page imports as ./herald-client.js: @herald/client, which the API bundles from its
// sources and serves at /assets/herald-client.js (apps/api/src/routes/client-bundle.ts). The
// type checker reads the client's own sources through this file.
export * from '../../../packages/client/src/index.ts';
