/**
 * Frequency-based extractive summarizer: a sentence matters as much as the
 * document's recurring terms it contains. Deterministic by construction —
 * no randomness, and ties fall back to original position.
 */
import type { Language } from './sentences.ts';
import type { SummarizeOptions, Summary, TextSummarizer } from './types.ts';
import { detectLanguage, splitSentences, tokenize } from './sentences.ts';

// Leading sentences often state the topic (news, reports); a small nudge
// decides near-ties without overriding clearly stronger sentences.
const LEAD_BONUS = 1.1;

function joiner(lang: Language): string {
  return lang === 'zh' ? '' : ' ';
}

function checkedLimit(maxSentences: number): number {
  if (!Number.isFinite(maxSentences) || maxSentences < 0) {
    throw new RangeError(`maxSentences must be a finite number >= 0, got ${maxSentences}`);
  }
  return Math.floor(maxSentences);
}

/** Term weight = frequency in the document relative to the most frequent term. */
function termWeights(sentenceTerms: readonly string[][]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const terms of sentenceTerms) {
    for (const term of terms) counts.set(term, (counts.get(term) ?? 0) + 1);
  }
  // A loop, not Math.max(...spread): long documents exceed the argument limit.
  let top = 1;
  for (const count of counts.values()) if (count > top) top = count;
  const weights = new Map<string, number>();
  for (const [term, count] of counts) weights.set(term, count / top);
  return weights;
}

// Dividing by sqrt(length) rather than length: a plain average would crown
// short sentences holding one frequent word, a plain sum the longest ones.
function scoreSentence(terms: readonly string[], weights: ReadonlyMap<string, number>): number {
  if (terms.length === 0) return 0;
  let sum = 0;
  for (const term of terms) sum += weights.get(term) ?? 0;
  return sum / Math.sqrt(terms.length);
}

function pickIndices(sentences: readonly string[], lang: Language, limit: number): number[] {
  const sentenceTerms = sentences.map((s) => tokenize(s, lang));
  const weights = termWeights(sentenceTerms);
  const ranked = sentenceTerms
    .map((terms, index) => ({ index, score: scoreSentence(terms, weights) * (index === 0 ? LEAD_BONUS : 1) }))
    .sort((a, b) => b.score - a.score || a.index - b.index);

  // A repeated sentence adds nothing the first copy did not already say.
  const seen = new Set<string>();
  const picked: number[] = [];
  for (const { index } of ranked) {
    if (picked.length >= limit) break;
    const text = sentences[index];
    if (text === undefined || seen.has(text)) continue;
    seen.add(text);
    picked.push(index);
  }
  return picked.sort((a, b) => a - b);
}

export const extractiveSummarizer: TextSummarizer = {
  name: 'extractive-tf',
  summarize(text: string, options: SummarizeOptions): Summary {
    const limit = checkedLimit(options.maxSentences);
    const lang = detectLanguage(text);
    const sentences = splitSentences(text, lang);
    const kept = sentences.length <= limit ? sentences : pickIndices(sentences, lang, limit).map((i) => sentences[i] ?? '');
    return { text: kept.join(joiner(lang)), sentenceCount: sentences.length, selected: kept.length };
  },
};
