// Builds the room page into ../dist: copies the page sources and
// livekit-client's browser bundle, and records a hash of the sources so a Go
// test can tell when the committed dist is stale.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dist = '../dist';
mkdirSync(dist, { recursive: true });
const files = readdirSync('src').sort();
for (const f of files) copyFileSync(join('src', f), join(dist, f));
copyFileSync('node_modules/livekit-client/dist/livekit-client.umd.js', join(dist, 'livekit-client.umd.js'));
writeFileSync(join(dist, 'SOURCES.sha256'), sourcesHash() + '\n');

// sourcesHash must match sourcesHash in ../web_test.go.
function sourcesHash() {
  const h = createHash('sha256');
  for (const f of files) {
    h.update(f + '\n');
    h.update(readFileSync(join('src', f)));
  }
  h.update('package-lock.json\n');
  h.update(readFileSync('package-lock.json'));
  return h.digest('hex');
}
