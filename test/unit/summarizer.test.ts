import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { submitRequestSchema } from '@herald/contract';
import { extractiveSummarizer } from '../../apps/worker/src/summarizer/index.ts';

// Samples are built from their sentences so the tests can check that every
// summary sentence is an input sentence and keeps its input position.
const EN_PARAGRAPHS = [
  ['Honeybees pollinate crops, and honeybee colonies are essential to farming.'],
  [
    'My neighbour painted his fence blue last weekend.',
    'When honeybee colonies collapse, crops that depend on honeybees to pollinate them yield far less food for farming communities.',
    'Beekeepers move colonies between farms every spring.',
  ],
  ['The train to the city was late again on Tuesday.', 'Many growers now rent honeybee colonies so their crops are pollinated on time.'],
];
const EN_SENTENCES = EN_PARAGRAPHS.flat();
const EN_TEXT = EN_PARAGRAPHS.map((p) => p.join(' ')).join('\n\n');

const ZH_PARAGRAPHS = [
  ['城市里的公园越来越多。', '蜜蜂为农作物传粉，蜜蜂传粉让农作物丰收。'],
  ['昨天的晚饭很好吃。', '如果蜜蜂减少，农作物就得不到传粉，农作物产量会下降！', '你去过北京吗？'],
  ['养蜂人每年春天搬运蜂箱。'],
];
const ZH_SENTENCES = ZH_PARAGRAPHS.flat();
const ZH_TEXT = ZH_PARAGRAPHS.map((p) => p.join('')).join('\n\n');

/** Which input sentences a summary consists of, by index; fails if any text is left over. */
function indicesOf(summary: string, sentences: readonly string[], separator: string): number[] {
  const found: number[] = [];
  let rest = summary;
  while (rest.length > 0) {
    const index = sentences.findIndex((s) => rest.startsWith(s));
    expect(index, `no input sentence starts ${JSON.stringify(rest)}`).toBeGreaterThanOrEqual(0);
    found.push(index);
    rest = rest.slice((sentences[index] ?? '').length);
    if (rest.length > 0) {
      expect(rest.startsWith(separator)).toBe(true);
      rest = rest.slice(separator.length);
    }
  }
  return found;
}

describe('extractiveSummarizer', () => {
  it('has a stable name', () => {
    expect(extractiveSummarizer.name).toBe('extractive-tf');
  });

  describe('English', () => {
    it('keeps the two central sentences, in input order', () => {
      const summary = extractiveSummarizer.summarize(EN_TEXT, { maxSentences: 2 });
      expect(summary).toEqual({
        text:
          'Honeybees pollinate crops, and honeybee colonies are essential to farming. ' +
          'When honeybee colonies collapse, crops that depend on honeybees to pollinate them yield far less food for farming communities.',
        sentenceCount: 6,
        selected: 2,
      });
      expect(indicesOf(summary.text, EN_SENTENCES, ' ')).toEqual([0, 2]);
    });

    it('never picks the off-topic sentences while on-topic ones remain', () => {
      const summary = extractiveSummarizer.summarize(EN_TEXT, { maxSentences: 4 });
      expect(indicesOf(summary.text, EN_SENTENCES, ' ')).toEqual([0, 2, 3, 5]);
    });
  });

  describe('Chinese', () => {
    it('keeps the two central sentences, in input order, joined without spaces', () => {
      const summary = extractiveSummarizer.summarize(ZH_TEXT, { maxSentences: 2 });
      expect(summary).toEqual({
        text: '蜜蜂为农作物传粉，蜜蜂传粉让农作物丰收。如果蜜蜂减少，农作物就得不到传粉，农作物产量会下降！',
        sentenceCount: 6,
        selected: 2,
      });
      expect(indicesOf(summary.text, ZH_SENTENCES, '')).toEqual([1, 3]);
    });

    it('splits on 。！？ and keeps unterminated trailing text as a sentence', () => {
      const summary = extractiveSummarizer.summarize('今天下雨。你带伞了吗？带了！那就好', { maxSentences: 10 });
      expect(summary).toEqual({ text: '今天下雨。你带伞了吗？带了！那就好', sentenceCount: 4, selected: 4 });
    });
  });

  describe('maxSentences', () => {
    const samples = [
      { name: 'English', text: EN_TEXT, sentences: EN_SENTENCES, separator: ' ' },
      { name: 'Chinese', text: ZH_TEXT, sentences: ZH_SENTENCES, separator: '' },
    ];
    for (const { name, text, sentences, separator } of samples) {
      it(`is respected for every limit from 1 to N+1 (${name})`, () => {
        let previous: number[] = [];
        for (let max = 1; max <= sentences.length + 1; max++) {
          const summary = extractiveSummarizer.summarize(text, { maxSentences: max });
          const indices = indicesOf(summary.text, sentences, separator);
          const expected = Math.min(max, sentences.length);
          expect(summary.selected).toBe(expected);
          expect(summary.sentenceCount).toBe(sentences.length);
          expect(indices).toHaveLength(expected);
          expect([...indices].sort((a, b) => a - b)).toEqual(indices);
          // Raising the limit only adds sentences: the ranking is one order.
          expect(indices).toEqual(expect.arrayContaining(previous));
          previous = indices;
        }
      });
    }

    it('returns an empty summary for 0', () => {
      expect(extractiveSummarizer.summarize(EN_TEXT, { maxSentences: 0 })).toEqual({
        text: '',
        sentenceCount: 6,
        selected: 0,
      });
    });

    it('rounds fractional limits down', () => {
      expect(extractiveSummarizer.summarize(EN_TEXT, { maxSentences: 2.9 }).selected).toBe(2);
    });

    it('rejects negative and non-finite limits', () => {
      expect(() => extractiveSummarizer.summarize(EN_TEXT, { maxSentences: -1 })).toThrow(RangeError);
      expect(() => extractiveSummarizer.summarize(EN_TEXT, { maxSentences: Number.NaN })).toThrow(RangeError);
      expect(() => extractiveSummarizer.summarize(EN_TEXT, { maxSentences: Infinity })).toThrow(RangeError);
    });
  });

  it('is deterministic', () => {
    for (const text of [EN_TEXT, ZH_TEXT]) {
      const first = extractiveSummarizer.summarize(text, { maxSentences: 3 });
      const second = extractiveSummarizer.summarize(text, { maxSentences: 3 });
      expect(second).toEqual(first);
    }
  });

  it('breaks score ties by original position', () => {
    const text = 'Cats purr. Dogs bark. Birds sing.';
    expect(extractiveSummarizer.summarize(text, { maxSentences: 2 }).text).toBe('Cats purr. Dogs bark.');
  });

  it('does not repeat a duplicated sentence', () => {
    const text = 'Rust is fast. Rust is fast. Rust is safe and fast. Lunch was late.';
    const summary = extractiveSummarizer.summarize(text, { maxSentences: 2 });
    expect(summary.text).toBe('Rust is fast. Rust is safe and fast.');
  });

  it('returns text shorter than the limit whole', () => {
    const text = 'The build passed. Deploys resume tomorrow.';
    expect(extractiveSummarizer.summarize(text, { maxSentences: 5 })).toEqual({
      text,
      sentenceCount: 2,
      selected: 2,
    });
  });

  it('treats text without a terminator as one sentence', () => {
    const text = 'queue depth is climbing on the eu replica';
    expect(extractiveSummarizer.summarize(text, { maxSentences: 1 })).toEqual({
      text,
      sentenceCount: 1,
      selected: 1,
    });
  });

  it('does not split after honorifics or initials', () => {
    const text = 'Dr. Smith met John F. Kennedy. They talked.';
    expect(extractiveSummarizer.summarize(text, { maxSentences: 5 })).toEqual({
      text,
      sentenceCount: 2,
      selected: 2,
    });
  });

  describe('whitespace', () => {
    it('trims, collapses runs and drops empty segments', () => {
      const text = '  \n\n\t  The  build\t passed.   \n\n\n   \n  Deploys    resume tomorrow!  \n\n  ';
      expect(extractiveSummarizer.summarize(text, { maxSentences: 5 })).toEqual({
        text: 'The build passed. Deploys resume tomorrow!',
        sentenceCount: 2,
        selected: 2,
      });
    });

    it('treats single newlines as soft wraps, blank lines as breaks', () => {
      const text = 'This sentence was\nwrapped by an email\nclient\n\nA heading without a full stop\n\nLast one.';
      const summary = extractiveSummarizer.summarize(text, { maxSentences: 5 });
      expect(summary).toEqual({
        text: 'This sentence was wrapped by an email client A heading without a full stop Last one.',
        sentenceCount: 3,
        selected: 3,
      });
    });

    it('rejoins wrapped Chinese lines without inserting spaces', () => {
      const text = '蜜蜂为农作物\n传粉。\n\n  养蜂人搬运\r\n蜂箱。  ';
      expect(extractiveSummarizer.summarize(text, { maxSentences: 5 })).toEqual({
        text: '蜜蜂为农作物传粉。养蜂人搬运蜂箱。',
        sentenceCount: 2,
        selected: 2,
      });
    });

    it('summarizes empty and whitespace-only input to nothing', () => {
      for (const text of ['', '   ', '\n\n\t\u3000\n']) {
        expect(extractiveSummarizer.summarize(text, { maxSentences: 3 })).toEqual({
          text: '',
          sentenceCount: 0,
          selected: 0,
        });
      }
    });

    it('ignores punctuation-only segments', () => {
      const text = 'First point.\n\n* * *\n\nSecond point.';
      expect(extractiveSummarizer.summarize(text, { maxSentences: 5 }).sentenceCount).toBe(2);
    });
  });
});

describe('any text a submission accepts', () => {
  it('gets a summary that is not empty', () => {
    const accepted = submitRequestSchema(2000);
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), fc.integer({ min: 1, max: 20 }), (text, maxSentences) => {
        fc.pre(accepted.safeParse({ text }).success);
        expect(extractiveSummarizer.summarize(text, { maxSentences }).text.trim()).not.toBe('');
      }),
      { numRuns: 2000 },
    );
  });
});
