// Render Markdown as the ICTSC score server does: remark-gfm, remark-breaks and remark-math,
// then remark-rehype without raw HTML (raw HTML is dropped).
// Usage: node render.mjs FILE.md          -> HTML on stdout
//        node render.mjs --text FILE.md   -> the text a reader sees, one block per line
import { readFileSync } from 'node:fs';
import { unified } from 'unified';
import remarkParse from 'remark-parse';
import remarkGfm from 'remark-gfm';
import remarkBreaks from 'remark-breaks';
import remarkMath from 'remark-math';
import remarkRehype from 'remark-rehype';
import rehypeStringify from 'rehype-stringify';

const args = process.argv.slice(2);
const text = args[0] === '--text';
const src = readFileSync(text ? args[1] : args[0], 'utf8');
const processor = unified()
  .use(remarkParse)
  .use(remarkGfm)
  .use(remarkBreaks)
  .use(remarkMath)
  .use(remarkRehype);
if (!text) {
  const out = await processor.use(rehypeStringify).process(src);
  process.stdout.write(String(out));
} else {
  const tree = await processor.run(processor.parse(src));
  // Block elements end a line; <br> is a line break; math shows what the renderer would typeset.
  const blocks = new Set(['p', 'h1', 'h2', 'h3', 'h4', 'li', 'pre', 'tr', 'blockquote', 'table', 'ul', 'ol']);
  let out = '';
  const walk = (n) => {
    if (n.type === 'text') out += n.value;
    else if (n.type === 'element') {
      const cls = (n.properties && n.properties.className) || [];
      if (cls.includes('math-inline') || cls.includes('math-display')) out += '⟨math⟩';
      if (n.tagName === 'br') out += '\n';
      if (n.tagName === 'td' || n.tagName === 'th') out += ' | ';
      for (const c of n.children || []) walk(c);
      if (blocks.has(n.tagName)) out += '\n';
    } else if (n.children) for (const c of n.children) walk(c);
  };
  walk(tree);
  process.stdout.write(out);
}
