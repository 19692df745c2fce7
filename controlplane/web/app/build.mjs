// Builds ../dist: copies livekit-client's browser bundle (the page's own
// sources in src are served as they are) and records a hash of the sources
// and the lock file so a Go test can tell when the committed dist is stale.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dist = '../dist';
mkdirSync(dist, { recursive: true });
const files = readdirSync('src').sort();
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
