// What the page imports as ./herald-client.js: @herald/client, bundled from its sources ahead of
// time (scripts/build/client-bundle.ts) and served at /assets/herald-client.js
// (apps/api/src/routes/client-bundle.ts). The type checker reads the client's own sources
// through this file.
export * from '../../../packages/client/src/index.ts';
