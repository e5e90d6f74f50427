#!/usr/bin/env node
// First-load JavaScript of a build (`npm run build` → dist/, or a folder given
// as the first argument), gzipped: every script and
// modulepreload that index.html names, plus their static imports. Fails above
// the budget (300 KB, issue 3).
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BUDGET = 300 * 1024;
const dist = process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const html = readFileSync(path.join(dist, 'index.html'), 'utf8');
const queue = [...html.matchAll(/<(?:script[^>]*\bsrc|link[^>]*rel="modulepreload"[^>]*\bhref)="([^"]+\.js)"/g)].map((m) => m[1]);
const seen = new Set();
let raw = 0, gz = 0;
while (queue.length) {
  const src = queue.shift();
  if (seen.has(src)) continue;
  seen.add(src);
  const code = readFileSync(path.join(dist, src.replace(/^\//, '')));
  raw += code.length;
  gz += gzipSync(code, { level: 9 }).length;
  // Static imports of other chunks (dynamic imports are not first load).
  for (const m of code.toString().matchAll(/(?:^|[;\n}])\s*import\s*(?:[^'"()]*?from\s*)?["'](\.\/[^"']+\.js)["']/g)) {
    queue.push(path.posix.join(path.posix.dirname(src), m[1]));
  }
}
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
console.log(`first-load JS: ${seen.size} file(s), ${kb(raw)} raw, ${kb(gz)} gzipped (budget ${kb(BUDGET)})`);
if (gz > BUDGET) {
  console.error('size: over budget');
  process.exit(1);
}
