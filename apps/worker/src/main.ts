import { runService } from '@herald/shared';
import { startWorker } from './worker.ts';

await runService('worker', (config, logger) => startWorker({ config, logger }));
