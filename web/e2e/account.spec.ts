// Password change and personal API tokens.
import { expect, request, test } from '@playwright/test';
import { ADMIN, Api, expectTitle, signIn, startServer, type Server } from './server';

let server: Server;
test.beforeAll(async () => {
  server = await startServer();
  const api = await Api.setup(server);
  await api.dispose();
});
test.afterAll(async () => {
  await server?.stop();
});

test('password change shows wrong_password next to the current password, then succeeds', async ({ page }) => {
  const next = 'an even longer new password';
  await page.goto(`${server.url}/account/password`);
  await signIn(page, ADMIN.email, ADMIN.password);
  await expect(page.getByTestId('page-password')).toBeVisible();
  await expectTitle(page, 'Change password');
  const form = page.getByRole('form', { name: 'Change password' });
  await form.getByLabel('Current password').fill('not my password');
  await form.getByLabel('New password', { exact: true }).fill(next);
  await form.getByLabel('New password again').fill(next);
  await form.getByRole('button', { name: 'Change password' }).click();
  await expect(form.getByTestId('error-current_password')).toContainText('wrong_password');
  await expect(form.getByTestId('error-new_password')).toHaveCount(0);

  await form.getByLabel('Current password').fill(ADMIN.password);
  await form.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByTestId('toast').filter({ hasText: 'Password changed' })).toBeVisible();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, ADMIN.email, next);
  await expect(page).toHaveURL(`${server.url}/account/password`.replace('/account/password', '/'));
  await expect(page.getByTestId('home-admin')).toBeVisible();
  // Put the password back for the other tests of this file.
  const api = await Api.login(server, ADMIN.email, next);
  await api.send('post', '/auth/password', { current_password: next, new_password: ADMIN.password });
  await api.dispose();
});

test('API tokens: create (secret shown once, and it works), list, revoke', async ({ page }) => {
  await page.goto(`${server.url}/account/tokens`);
  await signIn(page, ADMIN.email, ADMIN.password);
  await expectTitle(page, 'API tokens');
  const form = page.getByRole('form', { name: 'Create a token' });
  await form.getByLabel('Name').fill('nightly export');
  await form.getByRole('button', { name: 'Create token' }).click();
  const secret = (await page.getByTestId('token-secret').locator('code').textContent())!.trim();
  expect(secret.length).toBeGreaterThan(20);
  const table = page.getByRole('table', { name: 'API tokens' });
  await expect(table).toContainText('nightly export');

  const script = await request.newContext({ baseURL: server.url, extraHTTPHeaders: { Authorization: `Bearer ${secret}` } });
  expect((await script.get('/api/v1/auth/me')).status()).toBe(200);

  page.once('dialog', (d) => void d.accept());
  await table.getByRole('button', { name: 'Revoke' }).click();
  await expect(page.getByText('You have no active tokens.')).toBeVisible();
  expect((await script.get('/api/v1/auth/me')).status()).toBe(401);
  await script.dispose();
});
