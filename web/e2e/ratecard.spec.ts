// The rate card: administrators edit it (an invalid price is named at its
// path), PMs read it; the PM's tracks-and-accuracy page shows certification
// counts per track.
import { expect, test } from '@playwright/test';
import { ADMIN, Api, PASSWORD, expectTitle, signIn, startServer, type Server } from './server';

let server: Server;
const PM = { email: 'pia@provider.test', name: 'Pia Manager' };

test.beforeAll(async () => {
  server = await startServer();
  const admin = await Api.setup(server);
  await admin.createUser({ org_id: admin.me.organisation.id, email: PM.email, name: PM.name, role: 'pm' });
  await admin.send('post', '/tracks', { slug: 'e2e-cardiology', name: 'E2E Cardiology' });
  await admin.dispose();
});
test.afterAll(async () => {
  await server?.stop();
});

test('admin edits the rate card; an invalid price is named; the PM reads it', async ({ page, browser }) => {
  await page.goto(`${server.url}/rate-card`);
  await signIn(page, ADMIN.email, ADMIN.password);
  await expectTitle(page, 'Rate card');
  const price = page.getByRole('table', { name: 'Rates' }).getByRole('spinbutton', { name: /^Price per unit/ }).first();
  await price.fill('-1');
  await page.getByRole('button', { name: 'Save rate card' }).click();
  await expect(page.getByTestId('form-error')).toContainText('rates[0].cents_per_unit');
  await expect(price).toHaveAttribute('aria-invalid', 'true');
  await price.fill('2.75');
  await page.getByRole('button', { name: 'Save rate card' }).click();
  await expect(page.getByTestId('toast').filter({ hasText: 'Rate card saved.' })).toBeVisible();
  await page.reload();
  await expect(page.getByRole('table', { name: 'Rates' }).getByRole('spinbutton', { name: /^Price per unit/ }).first()).toHaveValue('2.75');
  await page.getByRole('spinbutton', { name: 'Multiplier for E2E Cardiology' }).fill('1.5');
  await page.getByRole('button', { name: 'Set the multiplier for E2E Cardiology' }).click();
  await expect(page.getByTestId('toast').filter({ hasText: 'Multiplier for E2E Cardiology set.' })).toBeVisible();

  const pm = await (await browser.newContext()).newPage();
  await pm.goto(`${server.url}/rate-card`);
  await signIn(pm, PM.email, PASSWORD);
  await expect(pm.getByRole('table', { name: 'Rates' }).getByRole('spinbutton', { name: /^Price per unit/ }).first()).toBeDisabled();
  await expect(pm.getByText('Only administrators change the rate card.')).toBeVisible();
  await pm.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tracks and accuracy' }).click();
  await expect(pm.getByRole('table', { name: 'Tracks and certification health' }).getByRole('row').filter({ hasText: 'E2E Cardiology' })).toBeVisible();
  await expect(pm.getByTestId('section-accuracy')).toContainText('No gold task has been scored yet.');
});
