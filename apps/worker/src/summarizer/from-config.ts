import type { Config } from '@herald/shared';
import { extractiveBackend } from './extractive-backend.ts';
import { openaiBackend } from './openai/backend.ts';
import type { Summarizer } from './types.ts';

/** SUMMARIZER and its settings, as the worker runs them (the config checked them at start-up). */
export function summarizerFromConfig(config: Config): Summarizer {
  if (config.SUMMARIZER === 'extractive') return extractiveBackend(config.STAGE_DELAY_MS);
  return openaiBackend({
    baseUrl: config.OPENAI_BASE_URL,
    apiKey: config.OPENAI_API_KEY,
    model: config.OPENAI_MODEL!,
    idleTimeoutMs: config.LLM_TIMEOUT_MS,
    totalTimeoutMs: config.LLM_TOTAL_TIMEOUT_MS,
    chunkChars: config.LLM_CHUNK_CHARS,
    maxOutputTokens: config.LLM_MAX_OUTPUT_TOKENS,
    maxRetries: config.LLM_MAX_RETRIES,
  });
}
