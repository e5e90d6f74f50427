// The admin console: create a user, grant a certification, see both in the
// audit trail with the chain verified; API errors next to the right field; the
// `?` overlay.
import { expect, test } from '@playwright/test';
import { ADMIN, Api, PASSWORD, expectTitle, signIn, startServer, type Server } from './server';

let server: Server;
test.beforeAll(async () => {
  server = await startServer();
  const api = await Api.setup(server);
  await api.send('post', '/tracks', { slug: 'e2e-neuroimaging', name: 'E2E Neuroimaging', description: 'Brain MRI and CT' });
  await api.dispose();
});
test.afterAll(async () => {
  await server?.stop();
});

test('admin creates a user, grants a certification, and the audit trail shows both', async ({ page }) => {
  await page.goto(`${server.url}/admin/users`);
  await signIn(page, ADMIN.email, ADMIN.password);
  await expect(page.getByTestId('page-users')).toBeVisible();
  await expectTitle(page, 'Users and roles');

  const form = page.getByRole('form', { name: 'Create a user' });
  await form.getByLabel('Name').fill('Theo Tasker');
  await form.getByLabel('E-mail address').fill('theo@provider.test');
  await form.getByLabel('Role').selectOption('tasker');
  await form.getByLabel('Initial password').fill(PASSWORD);
  await form.getByRole('button', { name: 'Create user' }).click();
  await expect(page.getByTestId('toast').filter({ hasText: 'User Theo Tasker created.' })).toBeVisible();
  const table = page.getByTestId('users-table');
  await expect(table.getByRole('link', { name: 'Theo Tasker' })).toBeVisible();

  // The same e-mail again: email_taken next to the e-mail field, nothing else flagged.
  await form.getByLabel('Name').fill('Theo Again');
  await form.getByLabel('E-mail address').fill('theo@provider.test');
  await form.getByLabel('Initial password').fill(PASSWORD);
  await form.getByRole('button', { name: 'Create user' }).click();
  await expect(form.getByTestId('error-email')).toContainText('email_taken');
  await expect(form.getByTestId('error-password')).toHaveCount(0);
  // A short password: weak_password next to the password field.
  await form.getByLabel('E-mail address').fill('theo2@provider.test');
  await form.getByLabel('Initial password').fill('short');
  await form.getByRole('button', { name: 'Create user' }).click();
  await expect(form.getByTestId('error-password')).toContainText('weak_password');
  await expect(form.getByTestId('error-email')).toHaveCount(0);

  // Grant a certification from the user's page.
  await table.getByRole('link', { name: 'Theo Tasker' }).click();
  await expect(page.getByTestId('page-user')).toBeVisible();
  await expectTitle(page, 'User');
  expect(page.url()).not.toContain('theo');
  const grant = page.getByRole('form', { name: 'Grant a certification' });
  await grant.getByLabel('Track').selectOption({ label: 'E2E Neuroimaging' });
  await grant.getByRole('button', { name: 'Grant' }).click();
  await expect(page.getByTestId('toast').filter({ hasText: 'Certification granted.' })).toBeVisible();
  const certs = page.getByTestId('certifications-table');
  await expect(certs.getByRole('row').filter({ hasText: 'E2E Neuroimaging' })).toContainText('Active');

  // Suspend it with a reason, then reinstate.
  await certs.getByRole('button', { name: 'Suspend…' }).click();
  await certs.getByLabel('Reason').fill('gold accuracy under threshold');
  await certs.getByRole('button', { name: 'Suspend', exact: true }).click();
  await expect(certs.getByRole('row').filter({ hasText: 'E2E Neuroimaging' })).toContainText('Suspended');
  await certs.getByRole('button', { name: 'Reinstate' }).click();
  await expect(certs.getByRole('row').filter({ hasText: 'E2E Neuroimaging' })).toContainText('Active');

  // The audit trail shows these events, and the chain verifies.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).click();
  await expect(page.getByTestId('page-audit')).toBeVisible();
  await expectTitle(page, 'Audit trail');
  await expect(page.getByTestId('verify-result')).toContainText('✔');
  const audit = page.getByTestId('audit-table');
  await expect(audit.getByRole('row').filter({ hasText: /user\.create/ }).first()).toBeVisible();
  await expect(audit.getByRole('row').filter({ hasText: /certification\./ }).first()).toBeVisible();

  // Filter by action: only matching events remain.
  const pager = page.getByTestId('audit-table').getByTestId('pager-status');
  await page.getByLabel('Action').fill('certification.grant');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await expect(pager).toContainText('1 in all');
  await expect(audit.locator('tbody tr')).toHaveCount(1);
  await expect(audit.locator('tbody tr td:nth-child(4)')).toHaveText('certification.grant');
  await expect(audit.locator('tbody tr td:nth-child(3)')).toHaveText(ADMIN.name);
  // Actor and action together: the administrator created two accounts (their own at setup, and Theo's).
  await page.getByLabel('Action').fill('user.create');
  await page.getByLabel('Actor').selectOption({ label: ADMIN.name });
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await expect(pager).toContainText('2 in all');
  // A time window in the future holds nothing.
  await page.getByRole('button', { name: 'Clear' }).click();
  await page.getByLabel('From').fill('2999-01-01T00:00');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await expect(pager).toContainText('0 in all');
  await expect(audit).toContainText('No events match these filters.');
});

test('the ? overlay lists the current page shortcuts, and shortcuts work', async ({ page }) => {
  await page.goto(`${server.url}/admin/users`);
  await signIn(page, ADMIN.email, ADMIN.password);
  await expect(page.getByTestId('page-users')).toBeVisible();
  await page.keyboard.press('?');
  const dialog = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole('region', { name: 'This page' })).toContainText('Create a user');
  await expect(dialog.getByRole('region', { name: 'This page' })).toContainText('Users: next page');
  await expect(dialog.getByRole('region', { name: 'Everywhere' })).toContainText('Go to the audit trail');
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();

  // `c` focuses the create form; typing there does not trigger shortcuts.
  await page.keyboard.press('c');
  await expect(page.getByRole('form', { name: 'Create a user' }).getByLabel('Name')).toBeFocused();
  await page.keyboard.type('g a?');
  await expect(page.getByTestId('page-users')).toBeVisible();
  await expect(dialog).toBeHidden();
  await page.getByRole('form', { name: 'Create a user' }).getByLabel('Name').blur();

  // `g a` goes to the audit trail, whose overlay lists its own shortcuts.
  await page.keyboard.press('g');
  await page.keyboard.press('a');
  await expect(page.getByTestId('page-audit')).toBeVisible();
  await page.keyboard.press('?');
  await expect(dialog.getByRole('region', { name: 'This page' })).toContainText('Verify the chain again');
  await expect(dialog.getByRole('region', { name: 'This page' })).not.toContainText('Create a user');
});

test('tracks page creates a track and shows a duplicate slug next to the slug field', async ({ page }) => {
  await page.goto(`${server.url}/admin/tracks`);
  await signIn(page, ADMIN.email, ADMIN.password);
  const form = page.getByRole('form', { name: 'Create a track' });
  await form.getByLabel('Slug').fill('e2e-oncology');
  await form.getByLabel('Name').fill('E2E Oncology');
  await form.getByRole('button', { name: 'Create track' }).click();
  await expect(page.getByRole('table', { name: 'Tracks' })).toContainText('E2E Oncology');
  await form.getByLabel('Slug').fill('e2e-oncology');
  await form.getByLabel('Name').fill('Oncology again');
  await form.getByRole('button', { name: 'Create track' }).click();
  await expect(form.getByTestId('error-slug')).toContainText('track_slug_taken');
});

test('users table pages and sorts on the server', async ({ page }) => {
  const api = await Api.login(server, ADMIN.email, ADMIN.password);
  const org = api.me.organisation.id as string;
  // 26 more accounts: with the administrator and Theo, 28 rows = two pages of 25.
  for (let i = 0; i < 26; i++) {
    const n = String(i).padStart(2, '0');
    await api.createUser({ org_id: org, email: `bulk${n}@provider.test`, name: `Bulk ${n}`, role: 'qa_reviewer' });
  }
  await api.dispose();
  await page.goto(`${server.url}/admin/users`);
  await signIn(page, ADMIN.email, ADMIN.password);
  const table = page.getByTestId('users-table');
  const pager = table.getByTestId('pager-status');
  await expect(pager).toHaveText(/Page 1 of 2 · (\d+) in all/);
  const total = Number((await pager.textContent())!.match(/(\d+) in all/)![1]);
  await expect(table.locator('tbody tr')).toHaveCount(25);
  await table.getByRole('button', { name: 'Next' }).click();
  await expect(pager).toContainText('Page 2 of 2');
  await expect(table.locator('tbody tr')).toHaveCount(total - 25);

  // Sorting by name goes back to page 1, ascending, then descending.
  await table.getByRole('button', { name: /^Name/ }).click();
  await expect(pager).toContainText('Page 1 of 2');
  await expect(table.getByRole('columnheader', { name: /Name/ })).toHaveAttribute('aria-sort', 'ascending');
  await expect(table.locator('tbody tr').first()).toContainText('Ada Admin');
  await table.getByRole('button', { name: /^Name/ }).click();
  await expect(table.getByRole('columnheader', { name: /Name/ })).toHaveAttribute('aria-sort', 'descending');
  await expect(table.locator('tbody tr').first()).toContainText('Theo Tasker');
  // `]` is the next-page shortcut of the table.
  await page.keyboard.press(']');
  await expect(pager).toContainText('Page 2 of 2');
  await expect(table.locator('tbody tr').last()).toContainText('Ada Admin');

  // The role filter asks the server.
  await page.getByLabel('Filter by role').selectOption('tasker');
  await expect(pager).toContainText('Page 1 of 1 · 1 in all');
});

test('admin renames an organisation, changes a role and disables an account; the audit trail records it', async ({ page, browser }) => {
  const api = await Api.login(server, ADMIN.email, ADMIN.password);
  const org = await api.createOrg('Westwind Clinic', 'client');
  const u = await api.createUser({ org_id: api.me.organisation.id, email: 'rory@provider.test', name: 'Rory Reviewer', role: 'qa_reviewer' });
  await api.dispose();

  await page.goto(`${server.url}/admin/organisations`);
  await signIn(page, ADMIN.email, ADMIN.password);
  const orgs = page.getByRole('table', { name: 'Organisations' });
  await orgs.getByRole('row').filter({ hasText: 'Westwind Clinic' }).getByRole('button', { name: 'Rename' }).click();
  await page.getByLabel('New name').fill('Westwind Clinic Group');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(orgs).toContainText('Westwind Clinic Group');

  // Rory signs in elsewhere; disabling the account ends that session.
  const other = await browser.newContext();
  const rory = await other.newPage();
  await rory.goto(`${server.url}/`);
  await signIn(rory, 'rory@provider.test', PASSWORD);
  await expect(rory.getByTestId('home-qa_reviewer')).toBeVisible();

  await page.goto(`${server.url}/admin/users/${u.id}`);
  await expect(page.getByTestId('page-user')).toBeVisible();
  await page.getByLabel('Role').selectOption('pm');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('page-user')).toContainText('Project manager');
  await page.getByRole('button', { name: 'Disable account' }).click();
  await expect(page.getByTestId('page-user')).toContainText('Disabled');
  await expect(page.getByRole('button', { name: 'Enable account' })).toBeVisible();

  await rory.reload();
  await expect(rory).toHaveURL(`${server.url}/sign-in`);
  await signIn(rory, 'rory@provider.test', PASSWORD);
  await expect(rory.getByTestId('form-error')).toBeVisible();
  await other.close();

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).click();
  await page.getByLabel('Target id').fill(u.id);
  await page.getByRole('button', { name: 'Apply filters' }).click();
  const audit = page.getByTestId('audit-table');
  await expect(audit.getByTestId('pager-status')).not.toContainText(' 0 in all');
  await expect(audit.locator('tbody tr td:nth-child(4)').filter({ hasText: /^user\.(update|disable)/ }).first()).toBeVisible();
  await page.getByRole('button', { name: 'Clear' }).click();
  await page.getByLabel('Target id').fill(org.id);
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await expect(audit.locator('tbody tr td:nth-child(4)').filter({ hasText: /^organisation\./ }).first()).toBeVisible();
});
