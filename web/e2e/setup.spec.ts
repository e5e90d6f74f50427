import { expect, test } from '@playwright/test';
import { ADMIN, expectTitle, startServer, type Server } from './server';

let server: Server;
test.beforeAll(async () => {
  server = await startServer();
});
test.afterAll(async () => {
  await server?.stop();
});

test('first-admin setup from the printed one-time link', async ({ page }) => {
  expect(server.setupUrl, 'the server prints a setup link on first start').toBeTruthy();
  await page.goto(server.setupUrl!);
  await expectTitle(page, 'First-time setup');
  // The token is read from the fragment and removed from the address bar.
  await expect(page).toHaveURL(`${server.url}/setup`);

  await page.getByLabel("Your organisation's name").fill(ADMIN.organisation);
  await page.getByLabel('Your name').fill(ADMIN.name);
  await page.getByLabel('E-mail address').fill(ADMIN.email);
  // Too short: the API's weak_password error is shown next to the password field.
  await page.getByLabel('Password', { exact: true }).fill('short');
  await page.getByLabel('Password again').fill('short');
  await page.getByRole('button', { name: 'Create administrator' }).click();
  const err = page.getByTestId('error-password');
  await expect(err).toContainText('weak_password');
  await expect(page.locator('[data-field="password"] input')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByTestId('error-email')).toHaveCount(0);

  await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
  await page.getByLabel('Password again').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Create administrator' }).click();

  await expect(page.getByTestId('home-admin')).toBeVisible();
  await expect(page).toHaveURL(`${server.url}/`);
  await expectTitle(page, 'Home');
  await expect(page.getByTestId('who')).toContainText('Ada Admin');
  await expect(page.getByTestId('section-audit')).toContainText('Chain intact');

  // The session survives a reload; the setup link is spent.
  await page.reload();
  await expect(page.getByTestId('home-admin')).toBeVisible();
  await page.goto(server.setupUrl!);
  await expect(page.getByTestId('setup-done')).toBeVisible();
});

test('the binary serves the app: cache headers, client-side routes, first-load JS under 300 KB gzipped', async ({ request }) => {
  const { gzipSync } = await import('node:zlib');
  const index = await request.get(`${server.url}/`);
  expect(index.headers()['cache-control']).toBe('no-cache');
  const html = await index.text();
  const deep = await request.get(`${server.url}/admin/users/some-id`);
  expect(deep.status()).toBe(200);
  expect(deep.headers()['cache-control']).toBe('no-cache');
  expect(await deep.text()).toBe(html);
  expect((await request.get(`${server.url}/assets/missing-0000.js`)).status()).toBe(404);

  const scripts = [...html.matchAll(/<(?:script[^>]*\bsrc|link[^>]*rel="modulepreload"[^>]*\bhref)="([^"]+\.js)"/g)].map((m) => m[1]!);
  expect(scripts.length).toBeGreaterThan(0);
  let gz = 0;
  for (const src of scripts) {
    expect(src).toMatch(/^\/assets\/.+-[\w-]{8,}\.js$/); // content-hashed name
    const r = await request.get(`${server.url}${src}`);
    expect(r.headers()['cache-control']).toBe('public, max-age=31536000, immutable');
    gz += gzipSync(await r.body(), { level: 9 }).length;
  }
  console.log(`first-load JS served by the binary: ${(gz / 1024).toFixed(1)} KB gzipped in ${scripts.length} file(s) (budget 300 KB)`);
  expect(gz).toBeLessThan(300 * 1024);
});
