// Browser benchmarks (not tests): figures printed, nothing asserted on time.
// Run with `web/bench/run.sh` (after `cargo build -p clinlabel`, or with
// CLINLABEL_BIN pointing at a release build).
import { defineConfig } from '@playwright/test';
import base from '../e2e/playwright.config';

export default defineConfig({ ...base, testDir: '.', testMatch: /.*\.bench\.ts$/, outputDir: './artifacts', timeout: 300_000 });
