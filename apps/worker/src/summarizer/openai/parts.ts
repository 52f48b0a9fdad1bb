import { type Language, splitSentences } from '../sentences.ts';

/**
 * A text cut into parts of at most `maxChars`, at sentence boundaries (ICU's, the extractive
 * summarizer's), so each part fits one model call and no sentence is cut in two. A sentence
 * longer than a part on its own is cut at spaces, or anywhere when it has none (Chinese).
 */
export function splitIntoParts(text: string, maxChars: number, language: Language): string[] {
  const joiner = language === 'zh' ? '' : ' ';
  const parts: string[] = [];
  let current = '';
  for (const sentence of splitSentences(text, language).flatMap((s) => cutLong(s, maxChars))) {
    const joined = current === '' ? sentence : `${current}${joiner}${sentence}`;
    if (joined.length <= maxChars) {
      current = joined;
      continue;
    }
    parts.push(current);
    current = sentence;
  }
  if (current !== '') parts.push(current);
  return parts;
}

function cutLong(sentence: string, maxChars: number): string[] {
  const pieces: string[] = [];
  let rest = sentence;
  while (rest.length > maxChars) {
    const space = rest.lastIndexOf(' ', maxChars);
    let cut = space > maxChars / 2 ? space : maxChars;
    // Not between the two halves of a surrogate pair (an emoji, a rare Han character).
    const code = rest.charCodeAt(cut - 1);
    if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
    pieces.push(rest.slice(0, cut).trim());
    rest = rest.slice(cut).trim();
  }
  if (rest !== '') pieces.push(rest);
  return pieces;
}
