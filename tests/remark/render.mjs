// Render Markdown as the ICTSC score server does: GFM plus hard line breaks.
// Usage: node render.mjs FILE.md  -> HTML on stdout
import { readFileSync } from 'node:fs';
import { unified } from 'unified';
import remarkParse from 'remark-parse';
import remarkGfm from 'remark-gfm';
import remarkBreaks from 'remark-breaks';
import remarkRehype from 'remark-rehype';
import rehypeStringify from 'rehype-stringify';

const src = readFileSync(process.argv[2], 'utf8');
const out = await unified()
  .use(remarkParse)
  .use(remarkGfm)
  .use(remarkBreaks)
  .use(remarkRehype)
  .use(rehypeStringify)
  .process(src);
process.stdout.write(String(out));
