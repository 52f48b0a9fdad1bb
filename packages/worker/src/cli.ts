#!/usr/bin/env node
import { BRIDGE_USAGE, runBridgeCommand } from './bridge/command.ts';

// `herald-worker <command>`: what @herald/worker runs from a shell. One command today:
// `herald-worker bridge --queue NAME`, the BullMQ bridge (docs/api.md, "The BullMQ bridge").
const USAGE = `Usage:
  ${BRIDGE_USAGE}`;

const [command, ...rest] = process.argv.slice(2);
if (command === 'bridge') {
  await runBridgeCommand(rest);
} else if (command === undefined || command === '--help' || command === '-h') {
  console.log(USAGE);
} else {
  console.error(`herald-worker: no command ${JSON.stringify(command)}\n${USAGE}`);
  process.exitCode = 2;
}
