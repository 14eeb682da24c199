import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const DOCS = path.resolve(__dirname, '..', '..', 'docs');
const SNIPPETS = path.join(DOCS, 'snippets');

/** Each `<!-- snippet: file -->` marker of the page and the fenced block right after it. */
function quotedSnippets(markdown: string): { file: string; code: string }[] {
  const marker = /<!-- snippet: (\S+) -->\n```[a-z]*\n([\s\S]*?)^```$/gm;
  return [...markdown.matchAll(marker)].map((m) => ({ file: m[1], code: m[2] }));
}

describe('docs/consumers.md and docs/snippets', () => {
  const page = readFileSync(path.join(DOCS, 'consumers.md'), 'utf8');
  const quoted = quotedSnippets(page);

  it('quotes every snippet file once, and nothing that is not one', () => {
    const files = readdirSync(SNIPPETS).sort();
    expect(quoted.map((q) => path.basename(q.file)).sort()).toEqual(files);
    expect(quoted.map((q) => path.dirname(q.file))).toEqual(files.map(() => 'snippets'));
    expect(page.match(/<!-- snippet:/g)).toHaveLength(files.length);
  });

  it.each(quotedSnippets(readFileSync(path.join(DOCS, 'consumers.md'), 'utf8')))('shows $file exactly as the file is', ({ file, code }) => {
    expect(code).toBe(readFileSync(path.join(DOCS, file), 'utf8'));
  });
});
