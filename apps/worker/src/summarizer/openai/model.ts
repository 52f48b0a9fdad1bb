import type OpenAI from 'openai';
import { SummarizerError } from '../errors.ts';
import { modelFailure } from './model-errors.ts';
import type { ChatMessage } from './prompt.ts';

export interface ModelSettings {
  readonly model: string;
  /** The model may send nothing for this long, before its answer or in the middle of it. */
  readonly idleTimeoutMs: number;
  /** The whole answer, retries by the SDK included, however steadily it comes. */
  readonly totalTimeoutMs: number;
  readonly maxOutputTokens: number;
}

/**
 * One model on an OpenAI-compatible server, asked through the official SDK with `stream: true`:
 * the answer comes in pieces, each handed on as it arrives. A watchdog ends a call that goes
 * silent for `idleTimeoutMs`, and another one that has run `totalTimeoutMs` (a server trickling a
 * token now and then is never silent for long); the caller's signal (a cancel) aborts it at once, which closes
 * the connection to the server.
 */
export class Model {
  readonly #client: OpenAI;
  readonly #settings: ModelSettings;

  constructor(client: OpenAI, settings: ModelSettings) {
    this.#client = client;
    this.#settings = settings;
  }

  /**
   * The model's whole answer to `messages`; `onText` gets each piece as it comes. Rejects with
   * a SummarizerError, or with the signal's reason when the signal aborted it.
   */
  async answer(messages: readonly ChatMessage[], signal: AbortSignal, onText?: (piece: string) => void): Promise<string> {
    const { model, idleTimeoutMs, totalTimeoutMs, maxOutputTokens } = this.#settings;
    const silence = new AbortController();
    const overtime = AbortSignal.timeout(totalTimeoutMs);
    let watchdog: NodeJS.Timeout | undefined;
    const rearm = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => silence.abort(), idleTimeoutMs);
    };
    rearm();
    try {
      const stream = await this.#client.chat.completions.create(
        { model, messages: [...messages], stream: true, max_tokens: maxOutputTokens },
        { signal: AbortSignal.any([signal, silence.signal, overtime]) },
      );
      let text = '';
      let finish: string | null = null;
      for await (const chunk of stream) {
        rearm();
        const choice = chunk.choices[0];
        const piece = choice?.delta?.content;
        if (piece) {
          text += piece;
          onText?.(piece);
        }
        if (choice?.finish_reason) finish = choice.finish_reason;
      }
      // An aborted stream may just end rather than throw: what stopped it decides.
      if (signal.aborted || silence.signal.aborted || overtime.aborted) throw new Error('aborted');
      if (finish === null) throw new SummarizerError('upstream_dropped', 'The connection to the model server dropped mid-answer', true);
      if (finish === 'length') {
        throw new SummarizerError(
          'truncated_answer',
          `The model stopped at LLM_MAX_OUTPUT_TOKENS (${maxOutputTokens}) before finishing its answer: raise LLM_MAX_OUTPUT_TOKENS`,
          false,
        );
      }
      if (finish === 'content_filter')
        throw new SummarizerError('content_filtered', "The model server's content filter stopped the answer", false);
      if (text.trim() === '') throw new SummarizerError('empty_answer', 'The model answered with no text', true);
      return text;
    } catch (error) {
      if (signal.aborted) throw signal.reason ?? error;
      if (silence.signal.aborted)
        throw new SummarizerError('upstream_timeout', `The model sent nothing for ${idleTimeoutMs} ms (LLM_TIMEOUT_MS)`, true);
      if (overtime.aborted)
        throw new SummarizerError(
          'upstream_timeout',
          `The model's answer took more than ${totalTimeoutMs} ms (LLM_TOTAL_TIMEOUT_MS)`,
          true,
        );
      throw modelFailure(error);
    } finally {
      clearTimeout(watchdog);
    }
  }
}
