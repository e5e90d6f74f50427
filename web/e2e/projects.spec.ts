// Home pages list real projects: the client sees theirs with its state. (A
// project is submitted only once data is uploaded, which has no page yet: the
// PM's queue stays empty here.)
import { expect, test } from '@playwright/test';
import { Api, PASSWORD, signIn, startServer, type Server } from './server';

let server: Server;
const CLIENT = { email: 'clara@client.test', name: 'Clara Client' };
const PM = { email: 'pia@provider.test', name: 'Pia Manager' };
const NAME = 'Discharge summaries — problems and medications';

test.beforeAll(async () => {
  server = await startServer();
  const admin = await Api.setup(server);
  const org = await admin.createOrg('Northwind Hospital', 'client');
  await admin.createUser({ org_id: org.id, email: CLIENT.email, name: CLIENT.name, role: 'client_admin' });
  await admin.createUser({ org_id: admin.me.organisation.id, email: PM.email, name: PM.name, role: 'pm' });
  const track = await admin.send('post', '/tracks', { slug: 'e2e-clinical-text', name: 'E2E Clinical text' });
  const nda = await admin.send('post', '/agreements', { kind: 'nda', title: 'Mutual NDA', body: 'The parties keep each other\'s information confidential.' });
  const dpa = await admin.send('post', '/agreements', { kind: 'dpa', title: 'Data processing agreement', body: 'The processor processes personal data only on documented instructions.' });
  await admin.dispose();

  const client = await Api.login(server, CLIENT.email, PASSWORD);
  for (const a of [nda, dpa]) await client.send('post', `/agreements/${a.id}/sign`, { full_name: CLIENT.name });
  const project = await client.send('post', '/projects', {
    name: NAME,
    modality: 'text',
    task_types: ['entities'],
    schema: { entity_types: [{ id: 'disease', name: 'Disease', hotkey: 'd' }], relation_types: [], assertion_values: ['present', 'absent'] },
    guidelines: '# Guidelines\n\nMark every disease.',
    output_formats: ['brat'],
    deadline: Date.now() + 60 * 24 * 3600 * 1000,
    track_id: track.id,
    overlap: 2,
    gold_rate: 0.05,
    qa: { tier1: true, tier2_sampling_pct: 20, tier3_spot_check_pct: 5, quality_threshold: 0.8 },
  });
  expect(project.state).toBe('draft');
  await client.dispose();
});
test.afterAll(async () => {
  await server?.stop();
});

test('the client home lists their project and its state', async ({ page }) => {
  await page.goto(server.url);
  await signIn(page, CLIENT.email, PASSWORD);
  const projects = page.getByTestId('section-projects');
  await expect(projects.getByRole('row').filter({ hasText: NAME })).toContainText('Draft');
  await expect(page).toHaveTitle('clinlabel — Home');
});

test('the PM home does not list a client draft as waiting for review', async ({ page }) => {
  await page.goto(server.url);
  await signIn(page, PM.email, PASSWORD);
  await expect(page.getByTestId('section-specs')).toContainText('No specifications waiting for review.');
  await expect(page.getByTestId('section-specs')).not.toContainText(NAME);
  await expect(page.getByTestId('section-projects')).toContainText('No projects in flight.');
});
