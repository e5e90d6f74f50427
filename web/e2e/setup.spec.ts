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
