import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { SummarizerError } from '../errors.ts';
import { detectLanguage } from '../sentences.ts';
import type { Summarizer, SummarizeRun } from '../types.ts';
import { Model } from './model.ts';
import { splitIntoParts } from './parts.ts';
import { partPrompt, summaryPrompt } from './prompt.ts';

export interface OpenAIBackendSettings {
  /** Up to /v1: https://api.openai.com/v1, http://127.0.0.1:11434/v1 (Ollama), … */
  readonly baseUrl: string;
  /** None for local servers that take none. */
  readonly apiKey: string | undefined;
  readonly model: string;
  readonly idleTimeoutMs: number;
  /** One answer's whole time (LLM_TOTAL_TIMEOUT_MS). */
  readonly totalTimeoutMs: number;
  readonly chunkChars: number;
  readonly maxOutputTokens: number;
  /** The SDK's retries of one call: 429, 5xx, lost connections, with Retry-After honoured. */
  readonly maxRetries: number;
}

/** An answer that broke off mid-stream is asked again this many times, after these pauses. */
const DROP_RETRY_PAUSES_MS = [500, 2000];
/** What a summary of n sentences is expected to run to, to tell progress while it is written. */
const CHARS_PER_SENTENCE = 160;

/**
 * Summaries written by a language model behind an OpenAI-compatible Chat Completions API
 * (OpenAI, DeepSeek, Qwen, Mistral, Ollama, vLLM, llama.cpp's server). A text that fits one call
 * is summarized in one streamed answer, written to watchers as it comes. A longer one is cut at
 * sentence boundaries into parts of LLM_CHUNK_CHARS; each part is summarized (map, "Summarized
 * part 3 of 8"), then the summary is written from the parts' summaries (reduce). Progress moves
 * with the work done: the parts, then the text written against what is expected.
 */
export function openaiBackend(settings: OpenAIBackendSettings): Summarizer {
  const client = new OpenAI({
    baseURL: settings.baseUrl,
    // The SDK insists on a key; local servers ignore the header.
    apiKey: settings.apiKey ?? 'none',
    maxRetries: settings.maxRetries,
    timeout: settings.idleTimeoutMs,
  });
  const model = new Model(client, {
    model: settings.model,
    idleTimeoutMs: settings.idleTimeoutMs,
    totalTimeoutMs: settings.totalTimeoutMs,
    maxOutputTokens: settings.maxOutputTokens,
  });

  return {
    name: `openai:${settings.model}`,
    async summarize(run) {
      const language = detectLanguage(run.text);
      const parts = splitIntoParts(run.text, settings.chunkChars, language);
      let material = run.text;
      let start = 10;
      if (parts.length > 1) {
        const summaries: string[] = [];
        for (const [i, part] of parts.entries()) {
          const progress = 10 + Math.floor((60 * i) / parts.length);
          await run.step({ stage: 'summarizing', progress, message: `Summarizing part ${i + 1} of ${parts.length}` });
          summaries.push(await againIfDropped(run, () => model.answer(partPrompt(part, i + 1, parts.length, language), run.signal)));
          await run.step({
            stage: 'summarizing',
            progress: 10 + Math.floor((60 * (i + 1)) / parts.length),
            message: `Summarized part ${i + 1} of ${parts.length}`,
          });
        }
        material = summaries.join('\n\n');
        start = 70;
      }
      await run.step({
        stage: 'writing',
        progress: start,
        message: parts.length > 1 ? `Writing the summary from ${parts.length} parts` : 'Writing the summary',
      });
      const expected = run.maxSentences * CHARS_PER_SENTENCE;
      return againIfDropped(run, (attempt) => {
        if (attempt > 1) run.restart(); // the new answer replaces the one that broke off
        let written = 0;
        return model.answer(summaryPrompt(material, parts.length > 1, run.maxSentences, language), run.signal, (piece) => {
          written += piece.length;
          run.write(piece, start + Math.floor((99 - start) * Math.min(1, written / expected)));
        });
      });
    },
  };
}

/** Asks again when an answer broke off mid-stream (the SDK retries everything else itself). */
async function againIfDropped(run: SummarizeRun, call: (attempt: number) => Promise<string>): Promise<string> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call(attempt);
    } catch (error) {
      const pause = DROP_RETRY_PAUSES_MS[attempt - 1];
      if (!(error instanceof SummarizerError) || error.code !== 'upstream_dropped' || pause === undefined) throw error;
      await sleep(pause, undefined, { signal: run.signal });
    }
  }
}
