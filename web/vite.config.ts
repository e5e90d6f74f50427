import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The build output is embedded in the binary by crates/clinlabel-web.
// `npm run dev` proxies the API to a running `clinlabel serve` (CLINLABEL_DEV_API).
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    sourcemap: false,
    // Hashed names (the default) let the server cache /assets/* forever.
    modulePreload: { polyfill: false },
  },
  server: {
    proxy: { '/api': process.env.CLINLABEL_DEV_API ?? 'http://127.0.0.1:8080' },
  },
});
