import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Built into dist/web, which `edgebox dashboard` serves (src/dashboard/static-files.ts).
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [react()],
  base: '/',
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    // The dashboard's users may be offline at the edge: no CDN, everything in the bundle.
    assetsInlineLimit: 0,
  },
  logLevel: 'warn',
});
