import { runService } from '@herald/shared';
import { startApi } from './server.ts';

await runService('api', (config, logger) => startApi({ config, logger }));
