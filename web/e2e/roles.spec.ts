// Sign-in for each role shows that role's home page.
import { expect, test } from '@playwright/test';
import { ADMIN, Api, PASSWORD, expectTitle, signIn, startServer, type Server } from './server';

let server: Server;
const people: Record<string, { email: string; name: string }> = {
  admin: { email: ADMIN.email, name: ADMIN.name },
  pm: { email: 'pat@provider.test', name: 'Pat Manager' },
  qa_reviewer: { email: 'quinn@provider.test', name: 'Quinn Reviewer' },
  tasker: { email: 'tara@provider.test', name: 'Tara Tasker' },
  client_admin: { email: 'cleo@client.test', name: 'Cleo Client' },
  client_member: { email: 'cam@client.test', name: 'Cam Member' },
};

test.beforeAll(async () => {
  server = await startServer();
  const api = await Api.setup(server);
  const client = await api.createOrg('Northwind Hospital', 'client');
  const provider = api.me.organisation.id as string;
  for (const [role, p] of Object.entries(people)) {
    if (role === 'admin') continue;
    await api.createUser({ org_id: role.startsWith('client') ? client.id : provider, email: p.email, name: p.name, role });
  }
  await api.dispose();
});
test.afterAll(async () => {
  await server?.stop();
});

const sections: Record<string, string[]> = {
  admin: ['section-organisations', 'section-users', 'section-tracks', 'section-audit'],
  pm: ['section-specs', 'section-projects'],
  qa_reviewer: ['section-batches'],
  tasker: ['section-start', 'section-certifications', 'section-returned'],
  client_admin: ['section-projects', 'section-team'],
  client_member: ['section-projects'],
};

for (const [role, p] of Object.entries(people)) {
  test(`sign-in as ${role} shows the ${role} home page`, async ({ page }) => {
    await page.goto(server.url);
    await expect(page).toHaveURL(`${server.url}/sign-in`);
    await expectTitle(page, 'Sign in');
    await signIn(page, p.email, role === 'admin' ? ADMIN.password : PASSWORD);
    await expect(page.getByTestId(`home-${role}`)).toBeVisible();
    await expectTitle(page, 'Home');
    await expect(page).toHaveURL(`${server.url}/`);
    for (const s of sections[role]!) await expect(page.getByTestId(s)).toBeVisible();
    // Only administrators get the console.
    await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' })).toHaveCount(role === 'admin' ? 1 : 0);
    if (role !== 'admin') {
      await page.goto(`${server.url}/admin/users`);
      await expect(page.getByRole('heading', { name: 'Not permitted' })).toBeVisible();
    }
  });
}

test('honest empty states for what does not exist yet', async ({ page }) => {
  await page.goto(`${server.url}/sign-in`);
  await signIn(page, people.pm!.email, PASSWORD);
  await expect(page.getByTestId('section-specs')).toContainText('No specifications waiting for review');
  await expect(page.getByTestId('section-projects')).toContainText('No projects in flight');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, people.tasker!.email, PASSWORD);
  await expect(page.getByTestId('section-certifications')).toContainText('You hold no certifications yet');
  await expect(page.getByRole('button', { name: 'Start annotating' })).toBeDisabled();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, people.client_admin!.email, PASSWORD);
  await expect(page.getByTestId('section-projects')).toContainText('No projects yet');
  await expect(page.getByTestId('section-team').getByRole('row')).toHaveCount(3); // header + two people of the client
});

test('wrong password is refused without saying which part was wrong', async ({ page }) => {
  await page.goto(`${server.url}/sign-in`);
  await signIn(page, people.pm!.email, 'not the password at all');
  await expect(page.getByTestId('form-error')).toContainText('invalid_credentials');
  await expect(page).toHaveURL(`${server.url}/sign-in`);
});
