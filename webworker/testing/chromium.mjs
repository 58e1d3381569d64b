// Headless Debian Chromium driven by playwright-core for browser tests.
// A persistent context (its own profile dir) so Cache Storage survives reloads.
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const CHROMIUM = process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium';
export const haveChromium = () => existsSync(CHROMIUM);

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function launchBrowser({ extraArgs = [] } = {}) {
  // Chromium exits 21 when TMPDIR does not exist.
  const tmpRoot = process.env.TMPDIR ?? os.tmpdir();
  mkdirSync(tmpRoot, { recursive: true });
  const profile = mkdtempSync(path.join(tmpRoot, 'tessera-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: [...FLAGS, ...extraArgs], timeout: 60000,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
