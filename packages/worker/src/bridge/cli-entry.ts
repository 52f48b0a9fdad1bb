import { runBridgeCommand } from './command.ts';

// `node packages/worker/src/bridge/cli-entry.ts --queue NAME …`: the bridge command on its own,
// until the @herald/worker CLI runs it as `herald-worker bridge` (tests run it this way to SIGKILL it).
await runBridgeCommand(process.argv.slice(2));
