/**
 * Language detection, sentence segmentation and scoring tokens, all on top of
 * ICU via Intl.Segmenter so no dictionaries ship with us.
 */

/** 'zh' covers any Han-dominant text; 'en' stands for every space-delimited script. */
export type Language = 'zh' | 'en';

// Kana counts with Han so Japanese also joins without spaces; a share rather
// than "any Han" keeps an English text quoting one Chinese word as English.
const CJK_CHAR = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/gu;
const LETTER = /\p{L}/gu;
const CJK_SHARE_THRESHOLD = 0.25;

export function detectLanguage(text: string): Language {
  const letters = text.match(LETTER)?.length ?? 0;
  if (letters === 0) return 'en';
  const cjk = text.match(CJK_CHAR)?.length ?? 0;
  return cjk / letters >= CJK_SHARE_THRESHOLD ? 'zh' : 'en';
}

// Segmenters are costly to build and stateless to use, so share them.
const segmenters = new Map<string, Intl.Segmenter>();

function segmenter(lang: Language, granularity: 'sentence' | 'word'): Intl.Segmenter {
  const key = `${lang}:${granularity}`;
  let found = segmenters.get(key);
  if (found === undefined) {
    found = new Intl.Segmenter(lang, { granularity });
    segmenters.set(key, found);
  }
  return found;
}

/** The CJK and fullwidth characters but U+3000, the one that is also a blank. */
const CJK_NOT_BLANK = '\\p{Script=Han}\\p{Script=Hiragana}\\p{Script=Katakana}\\u3001-\\u303f\\uff00-\\uffef';
const CJK_OR_FULLWIDTH = `${CJK_NOT_BLANK}\\u3000`;
// A line wrapped between two CJK characters must not gain a space: the
// script puts none between words. The blanks start after a CJK character
// that is not one: were U+3000 allowed there, each of a long run of U+3000
// and tabs would start a match that fails at the run's end, quadratic in a
// job's text (whitespace collapses to one space next, so the text is the same).
const CJK_LINE_WRAP = new RegExp(`(?<=[${CJK_NOT_BLANK}])[^\\S\\n]*\\n\\s*(?=[${CJK_OR_FULLWIDTH}])`, 'gu');
const BLANK_LINE = /\n[^\S\n]*\n\s*/;
const HAS_CONTENT = /[\p{L}\p{N}]/u;
// ICU has no abbreviation suppressions in V8, so "Dr. Smith" splits after
// "Dr."; rejoin after honorifics and single initials ("John F. Kennedy").
const ENDS_WITH_ABBREVIATION = /(?:^|\s)(?:Mr|Mrs|Ms|Mx|Dr|Prof|Sr|Jr|St|Mt|Rev|Gen|Col|Capt|Lt|Sgt|vs|[A-Z])\.$/;

/**
 * Paragraphs (blank-line separated) are hard boundaries; single newlines are
 * treated as soft wraps, because hard-wrapped plain text (emails, READMEs)
 * would otherwise be cut into line-sized fragments by ICU.
 */
function paragraphs(text: string): string[] {
  return text
    .replace(/\r\n?/g, '\n')
    .split(BLANK_LINE)
    .map((p) => p.replace(CJK_LINE_WRAP, '').replace(/\s+/g, ' ').trim())
    .filter((p) => p.length > 0);
}

export function splitSentences(text: string, lang: Language = detectLanguage(text)): string[] {
  const out: string[] = [];
  for (const paragraph of paragraphs(text)) {
    let pending = '';
    for (const { segment } of segmenter(lang, 'sentence').segment(paragraph)) {
      const piece = segment.trim();
      if (piece.length === 0) continue;
      pending = pending.length > 0 ? `${pending} ${piece}` : piece;
      if (ENDS_WITH_ABBREVIATION.test(pending)) continue;
      if (HAS_CONTENT.test(pending)) out.push(pending);
      pending = '';
    }
    // An abbreviation that ends the paragraph still ends its sentence.
    if (HAS_CONTENT.test(pending)) out.push(pending);
  }
  return out;
}

// Function words carry no topic signal; both lists always apply so mixed
// Chinese/English text is filtered either way.
// biome-ignore format: a word list reads as lines of words, not one word a line
const STOP_WORDS: ReadonlySet<string> = new Set([
  // English
  'a', 'about', 'above', 'after', 'again', 'against', 'all', 'also', 'am', 'an', 'and', 'any', 'are', 'as', 'at',
  'be', 'because', 'been', 'before', 'being', 'below', 'between', 'both', 'but', 'by',
  'can', 'could', 'did', 'do', 'does', 'doing', 'down', 'during', 'each', 'even', 'every',
  'few', 'for', 'from', 'further', 'had', 'has', 'have', 'having', 'he', 'her', 'here', 'hers', 'herself',
  'him', 'himself', 'his', 'how', 'i', 'if', 'in', 'into', 'is', 'it', 'its', 'itself', 'just',
  'may', 'me', 'might', 'more', 'most', 'much', 'must', 'my', 'myself', 'no', 'nor', 'not', 'now',
  'of', 'off', 'on', 'once', 'one', 'only', 'or', 'other', 'our', 'ours', 'ourselves', 'out', 'over', 'own',
  'same', 'shall', 'she', 'should', 'so', 'some', 'such', 'than', 'that', 'the', 'their', 'theirs', 'them',
  'themselves', 'then', 'there', 'these', 'they', 'this', 'those', 'through', 'to', 'too',
  'under', 'until', 'up', 'upon', 'us', 'very', 'was', 'we', 'were', 'what', 'when', 'where', 'which',
  'while', 'who', 'whom', 'why', 'will', 'with', 'would', 'yet', 'you', 'your', 'yours', 'yourself',
  "it's", 'it’s', "don't", 'don’t', "i'm", 'i’m', "that's", 'that’s',
  // Chinese
  '的', '了', '是', '在', '和', '与', '及', '或', '也', '都', '就', '而', '但', '又', '被', '把', '对',
  '地', '得', '着', '过', '这', '那', '这个', '那个', '这些', '那些', '一个', '我', '你', '他', '她', '它',
  '我们', '你们', '他们', '她们', '它们', '有', '没有', '不', '很', '会', '能', '要', '就是', '还', '所以',
  '因为', '如果', '但是', '而且', '并', '从', '向', '为', '以', '之', '其', '等', '吗', '呢', '吧', '啊',
]);

// Folds the commonest English plural so "bees" and "bee" count as one term;
// anything cleverer is a stemmer, which ICU does not give us.
function foldPlural(word: string): string {
  if (word.length > 4 && word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.length > 3 && word.endsWith('s') && !/(?:ss|us|is)$/.test(word)) return word.slice(0, -1);
  return word;
}

/** Content terms of a sentence, in order, repeats kept. */
export function tokenize(sentence: string, lang: Language): string[] {
  const terms: string[] = [];
  for (const { segment, isWordLike } of segmenter(lang, 'word').segment(sentence)) {
    if (isWordLike !== true) continue;
    const word = segment.toLowerCase();
    if (STOP_WORDS.has(word)) continue;
    terms.push(foldPlural(word));
  }
  return terms;
}
