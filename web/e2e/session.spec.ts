// Sessions: a stale session is sent to sign-in and returns to the page it was
// on; sign-out; no data in addresses.
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

test('a session ended on the server sends the person to sign-in, then back to where they were', async ({ page, context }) => {
  await page.goto(`${server.url}/admin/organisations`);
  await signIn(page, ADMIN.email, ADMIN.password);
  await expect(page.getByTestId('page-organisations')).toBeVisible();

  // End this browser's session from elsewhere (same cookie, another client).
  const cookie = (await context.cookies()).find((c) => c.httpOnly)!;
  const other = await request.newContext({ baseURL: server.url, extraHTTPHeaders: { Cookie: `${cookie.name}=${cookie.value}` } });
  const me = await (await other.get('/api/v1/auth/me')).json();
  expect((await other.post('/api/v1/auth/logout', { headers: { 'X-CSRF-Token': me.csrf_token } })).status()).toBe(204);
  await other.dispose();

  // The next thing the page asks of the API meets an expired session.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).click();
  await expect(page).toHaveURL(`${server.url}/sign-in`);
  await expect(page.getByTestId('sign-in-notice')).toContainText('Your session has ended');
  await expectTitle(page, 'Sign in');
  await signIn(page, ADMIN.email, ADMIN.password);
  await expect(page).toHaveURL(`${server.url}/admin/audit`);
  await expect(page.getByTestId('page-audit')).toBeVisible();
});

test('without a session cookie, a deep link goes through sign-in and back', async ({ page, context }) => {
  await page.goto(`${server.url}/sign-in`);
  await signIn(page, ADMIN.email, ADMIN.password);
  await expect(page.getByTestId('home-admin')).toBeVisible();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
  await expect(page.getByTestId('page-users')).toBeVisible();
  const userPath = new URL(page.url()).pathname;

  await context.clearCookies();
  await page.reload();
  await expect(page).toHaveURL(`${server.url}/sign-in`);
  await signIn(page, ADMIN.email, ADMIN.password);
  await expect(page).toHaveURL(`${server.url}${userPath}`);
  await expect(page.getByTestId('page-users')).toBeVisible();
});

test('sign-out ends the session; the e-mail address never reaches the URL', async ({ page }) => {
  const urls: string[] = [];
  page.on('framenavigated', (f) => urls.push(f.url()));
  page.on('request', (r) => urls.push(r.url()));
  await page.goto(`${server.url}/`);
  await signIn(page, ADMIN.email, ADMIN.password);
  await expect(page.getByTestId('home-admin')).toBeVisible();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(`${server.url}/sign-in`);
  await expect(page.getByTestId('sign-in-notice')).toContainText('signed out');
  await page.goto(`${server.url}/account/tokens`);
  await expect(page).toHaveURL(`${server.url}/sign-in`);
  for (const u of urls) {
    expect(u).not.toContain('ada@');
    expect(u).not.toContain(encodeURIComponent(ADMIN.email));
    expect(u).not.toContain('horse');
  }
});
