import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

// dist/README.txt is committed (Go's //go:embed needs dist/ to exist before a build), so
// instead of Vite's emptyOutDir, which would delete it, clear everything else in dist/.
function cleanDistKeepReadme(outDir: string): Plugin {
  return {
    name: 'hop-clean-dist',
    apply: 'build',
    buildStart() {
      let entries: string[] = [];
      try {
        entries = readdirSync(outDir);
      } catch {
        return;
      }
      for (const entry of entries) {
        if (entry !== 'README.txt') rmSync(join(outDir, entry), { recursive: true, force: true });
      }
    },
  };
}

const outDir = join(import.meta.dirname, 'dist');

export default defineConfig({
  base: '/',
  plugins: [cleanDistKeepReadme(outDir)],
  build: {
    outDir,
    emptyOutDir: false,
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
  },
});
