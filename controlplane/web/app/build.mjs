// Builds ../dist from src: app.js (the page's TypeScript with
// livekit-client, bundled and minified by esbuild) and style.css (minified),
// then records in SOURCES.sha256 the hash of every build input (src, the
// package files, tsconfig.json and this script) and of every output, so a
// Go test can tell without npm when the committed dist is stale or was
// edited by hand. `npm run build` typechecks with tsc first.
//
//   node build.mjs [--out DIR] [--livekit-external]
//
// --out writes elsewhere (the Go test rebuilds into a temporary directory
// and compares); --livekit-external leaves livekit-client out of app.js
// (as the global LivekitClient of its UMD bundle), for size comparisons only.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const { values: opt } = parseArgs({
  options: { out: { type: 'string', default: '../dist' }, 'livekit-external': { type: 'boolean', default: false } },
});
const dist = opt.out;
mkdirSync(dist, { recursive: true });

const common = { bundle: true, minify: true, legalComments: 'none', logLevel: 'warning', write: false, charset: 'utf8' };
const js = await build({
  ...common,
  entryPoints: ['src/main.ts'],
  format: 'iife',
  target: ['es2020', 'chrome90', 'firefox90', 'safari15'],
  define: { 'process.env.NODE_ENV': '"production"' },
  ...(opt['livekit-external'] ? { plugins: [externalGlobal('livekit-client', 'LivekitClient')] } : {}),
});
const css = await build({ ...common, entryPoints: ['src/style.css'], target: ['chrome90', 'firefox90', 'safari15'] });

const outputs = { 'app.js': js.outputFiles[0].contents, 'style.css': css.outputFiles[0].contents };
const lines = [`${inputsHash()}  inputs`];
for (const [name, bytes] of Object.entries(outputs)) {
  writeFileSync(join(dist, name), bytes);
  lines.push(`${sha256(bytes)}  ${name}`);
}
writeFileSync(join(dist, 'SOURCES.sha256'), lines.join('\n') + '\n');

function sha256(b) {
  return createHash('sha256').update(b).digest('hex');
}

// inputsHash must match inputsHash in ../web_test.go: for each input, in
// this order, its path and a newline, then its bytes.
function inputsHash() {
  const h = createHash('sha256');
  for (const f of [...walk('src').sort(), 'package.json', 'package-lock.json', 'tsconfig.json', 'build.mjs']) {
    h.update(f + '\n');
    h.update(readFileSync(f));
  }
  return h.digest('hex');
}

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [relative('.', join(dir, e.name))],
  );
}

function externalGlobal(pkg, global) {
  return {
    name: 'external-global',
    setup(b) {
      b.onResolve({ filter: new RegExp(`^${pkg}$`) }, () => ({ path: pkg, namespace: 'global' }));
      b.onLoad({ filter: /.*/, namespace: 'global' }, () => ({ contents: `module.exports = window.${global}`, loader: 'js' }));
    },
  };
}
