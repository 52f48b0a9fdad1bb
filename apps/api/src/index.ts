export { startApi, type ApiOptions, type RunningApi } from './server.ts';
