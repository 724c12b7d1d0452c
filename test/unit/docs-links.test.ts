/**
 * The README and the pages of docs/ link to each other and to the repository's files: every
 * relative link must name a file or folder that exists, and every `#anchor` a heading of the page
 * it points into (GitHub's anchors: the heading's text lower-cased, punctuation dropped, spaces
 * as hyphens, `-1`, `-2` ... for repeats). External links (`https:`, `mailto:`) are not fetched.
 * Every page of docs/ is linked from the README, so none is left unreachable.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The pages checked: the README and every Markdown page of docs/, as paths from the repository root. */
function pages(): string[] {
  const docs = readdirSync(path.join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`);
  return ['README.md', ...docs];
}

/** The text outside fenced code blocks, one entry per line (fenced lines blanked, so line numbers hold). */
function prose(text: string): string[] {
  let fenced = false;
  return text.split('\n').map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return '';
    }
    return fenced ? '' : line;
  });
}

/** GitHub's anchor of a heading's text. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors of a page's headings, repeats numbered as GitHub numbers them. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  for (const line of prose(text)) {
    const heading = /^#{1,6} (.+?)\s*#*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = slug(heading);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    found.add(count === 0 ? base : `${base}-${count}`);
  }
  return found;
}

interface Link {
  readonly page: string;
  readonly line: number;
  readonly target: string;
}

/** The inline links and images of a page (`[text](target)`, `![alt](target)`), outside code. */
function links(page: string, text: string): Link[] {
  return prose(text).flatMap((line, i) =>
    [...line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => ({
      page,
      line: i + 1,
      target: m[1] as string,
    })),
  );
}

/**
 * The links of `texts` (page path → its Markdown) that do not resolve, each with why. `exists`
 * tells whether a repository path (a file or a folder) exists; a page's anchors come from
 * `texts`, or from the file when the link points at a Markdown file outside them.
 */
function brokenLinks(texts: ReadonlyMap<string, string>, exists: (file: string) => boolean, read: (file: string) => string): string[] {
  const broken: string[] = [];
  for (const [page, text] of texts) {
    for (const link of links(page, text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link.target)) continue;
      const [file = '', anchor] = link.target.split('#', 2);
      const target = file === '' ? page : path.posix.normalize(path.posix.join(path.posix.dirname(page), decodeURI(file)));
      const where = `${link.page}:${link.line} (${link.target})`;
      if (target.startsWith('..')) {
        broken.push(`${where}: points outside the repository`);
        continue;
      }
      if (!texts.has(target) && !exists(target)) {
        broken.push(`${where}: no file ${target}`);
        continue;
      }
      if (anchor === undefined) continue;
      if (!target.endsWith('.md')) {
        broken.push(`${where}: an anchor into a file that is not Markdown`);
        continue;
      }
      if (!anchors(texts.get(target) ?? read(target)).has(anchor)) broken.push(`${where}: ${target} has no heading #${anchor}`);
    }
  }
  return broken;
}

const fromRoot = (file: string) => path.join(ROOT, file);

describe('links in the README and docs/', () => {
  const texts = new Map(pages().map((page) => [page, readFileSync(fromRoot(page), 'utf8')] as const));

  it('all resolve: every relative link names an existing file, every anchor a heading of its page', () => {
    // Act
    const broken = brokenLinks(
      texts,
      (file) => existsSync(fromRoot(file)),
      (file) => readFileSync(fromRoot(file), 'utf8'),
    );

    // Assess
    expect(links('README.md', texts.get('README.md') ?? '').length).toBeGreaterThan(20);
    expect(broken).toEqual([]);
  });

  it('reach every page of docs/ from the README', () => {
    // Act
    const linked = new Set(
      links('README.md', texts.get('README.md') ?? '')
        .map((link) => link.target.split('#')[0] ?? '')
        .filter((target) => target.startsWith('docs/')),
    );

    // Assess
    expect([...texts.keys()].filter((page) => page.startsWith('docs/') && !linked.has(page))).toEqual([]);
  });

  it('finds a missing file, a missing anchor and a heading anchor GitHub would number, and ignores links in code', () => {
    // Prepare
    const fixture = new Map([
      [
        'README.md',
        [
          '# Title',
          'See [a](docs/a.md#twice-1), [b](docs/a.md#gone), [c](docs/missing.md), [d](#title), [e](https://example.com/x).',
          'In code: `[f](docs/nowhere.md)`',
          '```sh',
          'echo "[g](docs/nowhere.md)"',
          '```',
        ].join('\n'),
      ],
      ['docs/a.md', ['# A', '## Twice', '## Twice', '## `npm start`: what it does'].join('\n')],
    ]);

    // Act
    const broken = brokenLinks(
      fixture,
      () => false,
      () => '',
    );

    // Assess
    expect(broken).toEqual([
      'README.md:2 (docs/a.md#gone): docs/a.md has no heading #gone',
      'README.md:2 (docs/missing.md): no file docs/missing.md',
    ]);
    expect([...anchors(fixture.get('docs/a.md') ?? '')]).toEqual(['a', 'twice', 'twice-1', 'npm-start-what-it-does']);
    expect(slug("Configuration (the authorizer function's environment)")).toBe('configuration-the-authorizer-functions-environment');
  });
});
