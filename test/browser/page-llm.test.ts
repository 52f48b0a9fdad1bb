import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.ts';
import { request } from '../support/http.ts';
import { BEES } from '../support/texts.ts';
import { canRunBrowserTests, jobIdOf, sel, setUpPageTests, stageLog, waitForStatus } from './support.ts';

// The page with a language model behind Herald (the stand-in of test/support/fake-openai.ts):
// the summary appears as it is written, word by word, then stands as the result.

describe.skipIf(!canRunBrowserTests)('the demo page, while a model writes the summary', () => {
  let fake: FakeOpenAI | undefined;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
  });
  const tests = setUpPageTests(() => ({
    SUMMARIZER: 'openai',
    OPENAI_BASE_URL: fake!.baseUrl,
    OPENAI_MODEL: 'test-model',
    STREAM_FLUSH_MS: '100',
  }));
  afterAll(() => fake?.close());

  it('shows the summary growing in its box, on one log line, then the result', async () => {
    const words = ['Bees ', 'live ', 'in ', 'colonies ', 'and ', 'make ', 'honey ', 'from ', 'nectar.'];
    fake!.script({ kind: 'answer', pieces: words, delayMs: 250 });
    const { page, problems } = await tests.open('/');
    await page.fill(sel('text'), BEES);
    await page.click(sel('submit'));
    await page.waitForURL(/\/jobs\/[^/]+$/);

    // Mid-answer: part of the text, in a box marked busy. (Polled from here: the page's CSP
    // rightly refuses the eval a string predicate would need.)
    let shown = '';
    await expect
      .poll(
        async () => {
          shown = (await page.textContent(sel('result'))) ?? '';
          return shown.length > 0 && shown.length < words.join('').length;
        },
        { timeout: 10_000, interval: 20 },
      )
      .toBe(true);
    expect(words.join('').startsWith(shown)).toBe(true);
    await expect(page.getAttribute(sel('result-box'), 'aria-busy')).resolves.toBe('true');

    await waitForStatus(page, 'done', 15_000);
    await expect(page.textContent(sel('result'))).resolves.toBe(words.join(''));
    await expect(page.getAttribute(sel('result-box'), 'aria-busy')).resolves.toBeNull();
    const log = await stageLog(page);
    expect(log.filter((entry) => entry.stage === 'writing').length).toBeLessThanOrEqual(2); // the step, and the text's one line
    expect(log.at(-1)?.stage).toBe('done');
    const snapshot = await request(`${tests.stack.url}/v1/jobs/${jobIdOf(page)}`);
    expect(snapshot.body.result).toBe(words.join(''));
    expect(problems).toEqual([]);
  });
});
