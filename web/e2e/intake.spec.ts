// Issue 4, from a signed NDA to an approved quote, all through the UI: the
// admin publishes the NDA and DPA, the client admin signs both, creates a
// project (a field error shown at its path first), uploads files (a corrupt
// one is rejected with its reason; a dropped connection is resumed after a
// reload), submits; the PM quotes with an adjustment; the client approves.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test, type Browser, type Page } from '@playwright/test';
import { ADMIN, Api, PASSWORD, expectTitle, signIn, startServer, type Server } from './server';

let server: Server;
const CLIENT = { email: 'clara@client.test', name: 'Clara Client' };
const PM = { email: 'pia@provider.test', name: 'Pia Manager' };
const NAME = 'Discharge summaries — specialty';
let files: { good1: string; good2: string; bad: string; big: string };

test.beforeAll(async () => {
  server = await startServer();
  const admin = await Api.setup(server);
  const org = await admin.createOrg('Northwind Hospital', 'client');
  await admin.createUser({ org_id: org.id, email: CLIENT.email, name: CLIENT.name, role: 'client_admin' });
  await admin.createUser({ org_id: admin.me.organisation.id, email: PM.email, name: PM.name, role: 'pm' });
  await admin.send('post', '/tracks', { slug: 'e2e-clinical-text', name: 'E2E Clinical text' });
  await admin.dispose();
  const dir = mkdtempSync(path.join(tmpdir(), 'clinlabel-e2e-files-'));
  files = {
    good1: path.join(dir, 'note-001.txt'),
    good2: path.join(dir, 'note-002.txt'),
    bad: path.join(dir, 'note-corrupt.txt'),
    big: path.join(dir, 'note-long.txt'),
  };
  writeFileSync(files.good1, 'Patient admitted with chest pain. Troponin negative.\n');
  writeFileSync(files.good2, 'Follow-up visit: blood pressure well controlled on amlodipine.\n');
  writeFileSync(files.bad, Buffer.concat([Buffer.from('Discharge summary: '), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from(' end\n')]));
  writeFileSync(files.big, 'Long clinic letter, line after line of history and examination findings.\n'.repeat(4000));
});
test.afterAll(async () => {
  await server?.stop();
});

async function as(browser: Browser, email: string, password: string, to = '/'): Promise<Page> {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(`${server.url}${to}`);
  await signIn(page, email, password);
  await expect(page.getByTestId('who')).toBeVisible();
  return page;
}

test('intake: agreements, specification, uploads, submission, quote, approval', async ({ browser }) => {
  test.setTimeout(120_000);
  // The admin publishes the NDA and the DPA.
  const admin = await as(browser, ADMIN.email, ADMIN.password, '/agreements');
  await expect(admin.getByTestId('page-agreements')).toBeVisible();
  await expectTitle(admin, 'Agreements');
  const publish = admin.getByRole('form', { name: 'Publish an agreement' });
  for (const [kind, title, body] of [
    ['nda', 'Mutual NDA', 'The parties keep each other\'s information confidential.'],
    ['dpa', 'Data processing agreement', 'The processor processes personal data only on documented instructions.'],
  ] as const) {
    await publish.getByLabel('Agreement').selectOption(kind);
    await publish.getByLabel('Title').fill(title);
    await publish.getByLabel('Text (Markdown)').fill(body);
    await publish.getByRole('button', { name: 'Publish' }).click();
    await expect(admin.getByTestId(`agreement-${kind}`)).toContainText(title);
  }
  await admin.context().close();

  // The client admin reads and signs both with their typed name.
  const client = await as(browser, CLIENT.email, PASSWORD);
  await expect(client.getByTestId('agreements-needed')).toContainText('NDA and DPA');
  await client.getByRole('link', { name: 'Read and sign' }).click();
  for (const kind of ['nda', 'dpa'] as const) {
    const card = client.getByTestId(`agreement-${kind}`);
    await expect(card.getByTestId(`unsigned-${kind}`)).toBeVisible();
    await card.getByLabel('Type your full name to sign').fill(CLIENT.name);
    await card.getByRole('button', { name: `Sign ${kind.toUpperCase()}` }).click();
    await expect(card.getByTestId(`signed-${kind}`)).toContainText(`Signed by ${CLIENT.name}`);
  }

  // The specification: a relation to an entity type the schema lacks is named at its path.
  await client.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Projects' }).click();
  await client.getByRole('link', { name: 'New project' }).click();
  await expectTitle(client, 'New project');
  const form = client.getByRole('form', { name: 'Project specification' });
  await form.getByLabel('Project name').fill(NAME);
  await form.getByLabel('Modality').selectOption('text');
  await form.getByRole('checkbox', { name: 'relations' }).check();
  await form.getByRole('checkbox', { name: 'entities' }).check();
  await form.getByLabel('Question 1 text').fill('Which specialty wrote this note?');
  await form.getByLabel('Question 1 option 1 id').fill('cardiology');
  await form.getByLabel('Question 1 option 1 name').fill('Cardiology');
  await form.getByLabel('Question 1 option 2 id').fill('other');
  await form.getByLabel('Question 1 option 2 name').fill('Other');
  await form.getByRole('button', { name: 'Add entity type' }).click();
  await form.getByLabel('Entity type 1 id').fill('disease');
  await form.getByLabel('Entity type 1 name').fill('Disease');
  await form.getByRole('button', { name: 'Add entity type' }).click();
  await form.getByLabel('Entity type 2 id').fill('medication');
  await form.getByLabel('Entity type 2 name').fill('Medication');
  await form.getByRole('button', { name: 'Add a relation type' }).click();
  await form.getByLabel('Relation 1 id').fill('treats');
  await form.getByLabel('Relation 1 name').fill('medication–indication');
  await form.getByLabel('Relation 1 from (entity type ids)').fill('medication');
  await form.getByLabel('Relation 1 to (entity type ids)').fill('symptom');
  await form.getByLabel('Guidelines (Markdown)').fill('# Guidelines\n\nChoose the specialty of the author.');
  await form.getByRole('checkbox', { name: 'brat' }).check();
  await form.getByRole('button', { name: 'Create project' }).click();
  const relation = form.getByTestId('relation-0');
  await expect(relation.getByTestId('error-schema.relation_types[0].to')).toContainText('invalid_field');
  await expect(relation.getByTestId('error-schema.relation_types[0].to')).toContainText('schema.relation_types[0].to[0]');
  await expect(relation.getByLabel('Relation 1 to (entity type ids)')).toHaveAttribute('aria-invalid', 'true');
  await expect(form.getByTestId('form-error')).toContainText('schema.relation_types[0].to[0]');
  await expect(form.getByLabel('Project name')).not.toHaveAttribute('aria-invalid', 'true');
  await form.getByLabel('Relation 1 to (entity type ids)').fill('disease');
  await form.getByRole('button', { name: 'Create project' }).click();
  await expect(client.getByTestId('page-project')).toBeVisible();
  await expectTitle(client, 'Project');
  expect(client.url()).not.toContain('Discharge');
  await expect(client.getByTestId('project-state')).toHaveText('Draft');
  // The draft's specification can be edited: three taskers per item instead of two.
  await expect(client.getByTestId('section-spec')).toContainText('2 tasker(s) per item');
  await client.getByRole('link', { name: 'Edit specification' }).click();
  await expectTitle(client, 'Edit specification');
  await client.getByLabel('Overlap (taskers per item)').fill('3');
  await client.getByRole('button', { name: 'Save specification' }).click();
  await expect(client.getByTestId('section-spec')).toContainText('3 tasker(s) per item');
  await expect(client.getByTestId('project-state')).toHaveText('Draft');

  // Uploads: two good notes and a corrupt one; the corrupt one is listed as rejected with its reason.
  const panel = client.getByTestId('upload-panel');
  await panel.getByLabel('Choose files').setInputFiles([files.good1, files.good2, files.bad]);
  const filesTable = client.getByTestId('files-table');
  await expect(filesTable.getByRole('row').filter({ hasText: 'note-001.txt' })).toContainText('Accepted');
  await expect(filesTable.getByRole('row').filter({ hasText: 'note-002.txt' })).toContainText('Accepted');
  const badRow = filesTable.getByRole('row').filter({ hasText: 'note-corrupt.txt' });
  await expect(badRow).toContainText('Rejected');
  await expect(badRow.getByRole('cell').nth(4)).not.toBeEmpty();
  await expect(panel.getByTestId('upload-job')).toHaveCount(3);

  // A dropped connection: the second chunk of the long note is cut off; a reload, the same file again, and it resumes.
  await client.evaluate(() => localStorage.setItem('clinlabel.upload.chunkBytes', String(64 * 1024)));
  let patches = 0;
  await client.route('**/api/v1/uploads/*', async (route) => {
    if (route.request().method() === 'PATCH' && ++patches === 2) await route.abort('connectionreset');
    else await route.continue();
  });
  await panel.getByLabel('Choose files').setInputFiles(files.big);
  const bigJob = panel.getByTestId('upload-job').filter({ hasText: 'note-long.txt' });
  await expect(bigJob).toHaveAttribute('data-state', 'interrupted');
  await expect(bigJob.getByRole('button', { name: 'Resume note-long.txt' })).toBeVisible();
  await client.unroute('**/api/v1/uploads/*');
  await client.reload();
  await expect(client.getByTestId('unfinished-uploads')).toContainText('note-long.txt');
  const resumed = client.waitForResponse((r) => r.request().method() === 'GET' && /\/api\/v1\/uploads\/[^/]+$/.test(r.url()));
  await client.getByTestId('upload-panel').getByLabel('Choose files').setInputFiles(files.big);
  expect((await resumed).ok()).toBeTruthy();
  const job = client.getByTestId('upload-job').filter({ hasText: 'note-long.txt' });
  await expect(job).toContainText('resumed');
  await expect(job).toHaveAttribute('data-state', 'complete');
  await expect(client.getByTestId('files-table').getByRole('row').filter({ hasText: 'note-long.txt' })).toContainText('Accepted');
  await expect(client.getByTestId('unfinished-uploads')).toHaveCount(0);

  // Submit for review.
  await client.getByRole('button', { name: 'Submit for review' }).click();
  await expect(client.getByTestId('project-state')).toHaveText('Submitted for review');
  await expect(client.getByTestId('section-history')).toContainText('Submitted for review');

  // The PM finds it in the queue, previews the price, adds a discount with its reason, issues the quote.
  const pm = await as(browser, PM.email, PASSWORD);
  await pm.getByTestId('section-specs').getByRole('link', { name: NAME }).click();
  const builder = pm.getByTestId('quote-builder');
  await expect(builder.getByRole('table', { name: 'Quote lines' })).toBeVisible();
  await builder.getByRole('button', { name: 'Add an adjustment' }).click();
  await builder.getByLabel('Adjustment 1 amount').fill('-25');
  await builder.getByRole('button', { name: 'Issue quote' }).click(); // no reason yet: refused, next to the reason
  await expect(builder.getByRole('alert')).toContainText('invalid_field');
  await expect(builder.getByLabel('Adjustment 1 reason')).toHaveAttribute('aria-invalid', 'true');
  await expect(pm.getByTestId('project-state')).toHaveText('Submitted for review');
  await builder.getByLabel('Adjustment 1 reason').fill('Pilot project discount');
  await builder.getByRole('button', { name: 'Issue quote' }).click();
  await expect(pm.getByTestId('project-state')).toHaveText('Quoted, awaiting approval');
  const quote = pm.getByTestId('quote').first();
  await expect(quote.getByTestId('quote-status')).toHaveText('Awaiting the client');
  await expect(quote).toContainText('Pilot project discount');

  // The client sees the quote's lines and approves it.
  await client.reload();
  const cq = client.getByTestId('quote').first();
  await expect(cq).toContainText('Pilot project discount');
  await cq.getByRole('button', { name: 'Reject quote' }).click();
  await expect(cq.getByRole('alert')).toBeVisible();
  await cq.getByRole('button', { name: 'Approve quote' }).click();
  await expect(client.getByTestId('project-state')).toHaveText('Approved');
  await expect(client.getByTestId('quote').first().getByTestId('quote-status')).toHaveText('Approved');
});
