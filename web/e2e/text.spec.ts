// Issue 7, the clinical text workspace in the browser: a note pre-annotated
// from the bundled ICD-10-CM release with ConText assertions — the tasker
// accepts one suggestion, rejects one, edits one, marks spans by selecting
// text and pressing a label key, relates a medication to a disease, sets an
// assertion, assigns an ICD-10-CM code by type-ahead search, answers a
// sentence and a document question and submits; the peer reviewer rejects one
// span with a comment anchored to it; the author sees it on that span, fixes
// it and resubmits. A second note with an emoji, combining characters and
// CRLF line ends goes through the UI into the stored annotation with its
// offsets in Unicode scalar values.
//
// A second project brings existing work: a Label Studio export (its results
// offered as suggestions, one with the UTF-16 offsets of an older Label
// Studio) and a lexicon the PM sets on the project page; the tasker accepts
// an imported suggestion, a relation and a lexicon suggestion, and undoes and
// redoes decisions, a span, an assertion and an answer with Ctrl+Z /
// Ctrl+Shift+Z / Ctrl+Y.
import { expect, test, type Browser, type Locator, type Page } from '@playwright/test';
import { ADMIN, Api, PASSWORD, signIn, startServer, type Server } from './server';

let server: Server;
let projectId = '';
const PEOPLE = {
  client: { email: 'cleo@client.test', name: 'Cleo Client' },
  pm: { email: 'pat@provider.test', name: 'Pat Manager' },
  a: { email: 'cora@provider.test', name: 'Cora Coder' },
  b: { email: 'cal@provider.test', name: 'Cal Coder' },
};

const NOTE = 'HPI: 67 yo woman with cough.\r\nShe denies nausea. Mother had asthma.\r\nOn metformin for diabetes.\r\n';
// An emoji outside the BMP (two UTF-16 units), "e" + combining acute, "o" + combining diaeresis,
// a ZWJ family (5 chars, 8 units) and CRLF line ends.
const ROUND_TRIP = 'Pt \u{1F600} reports e\u0301dema\r\nand co\u0308ugh \u{1F468}\u200D\u{1F469}\u200D\u{1F467} at night.\r\n';

/** Char (Unicode scalar value) offset of `needle` in `text`, counted by code points. */
const charAt = (text: string, needle: string) => [...text.slice(0, text.indexOf(needle))].length;
const charLen = (s: string) => [...s].length;

test.beforeAll(async () => {
  server = await startServer();
  const admin = await Api.setup(server);
  const org = await admin.createOrg('County Hospital', 'client');
  const prov = admin.me.organisation.id;
  await admin.createUser({ org_id: org.id, email: PEOPLE.client.email, name: PEOPLE.client.name, role: 'client_admin' });
  await admin.createUser({ org_id: prov, email: PEOPLE.pm.email, name: PEOPLE.pm.name, role: 'pm' });
  const track = await admin.send('post', '/tracks', { slug: 'e2e-coding', name: 'E2E Clinical coding' });
  for (const t of [PEOPLE.a, PEOPLE.b]) {
    const u = await admin.createUser({ org_id: prov, email: t.email, name: t.name, role: 'tasker' });
    await admin.send('post', '/certifications', { user_id: u.id, track_id: track.id, expires_at: Date.now() + 365 * 86_400_000 });
  }
  const nda = await admin.send('post', '/agreements', { kind: 'nda', title: 'NDA', body: 'Confidential.' });
  const dpa = await admin.send('post', '/agreements', { kind: 'dpa', title: 'DPA', body: 'On instructions only.' });
  await admin.dispose();
  const client = await Api.login(server, PEOPLE.client.email, PASSWORD);
  for (const a of [nda, dpa]) await client.send('post', `/agreements/${a.id}/sign`, { full_name: PEOPLE.client.name });
  const p = await client.send('post', '/projects', {
    name: 'Problem list and coding',
    modality: 'text',
    task_types: ['entities', 'relations', 'assertion', 'coding', 'classification'],
    schema: {
      entity_types: [
        { id: 'disease', name: 'Disease', code_system: 'icd10cm' },
        { id: 'symptom', name: 'Symptom', code_system: 'icd10cm' },
        { id: 'medication', name: 'Medication' },
      ],
      relation_types: [{ id: 'treats', name: 'treats', from: ['medication'], to: ['disease'] }],
      assertion_values: ['present', 'absent', 'possible', 'historical', 'family_history', 'hypothetical'],
      questions: [
        { id: 'doctype', text: 'Document type', kind: 'single', level: 'document', options: [{ id: 'discharge', name: 'Discharge summary' }, { id: 'progress', name: 'Progress note' }] },
        { id: 'smoking', text: 'Smoking status', kind: 'single', level: 'sentence', required: false, options: [{ id: 'current', name: 'Current' }, { id: 'never', name: 'Never' }] },
      ],
    },
    guidelines: '# Guidelines\n\nMark every disease, symptom and medication; code diseases in ICD-10-CM.',
    output_formats: ['native_jsonl', 'brat'],
    deadline: Date.now() + 30 * 86_400_000,
    track_id: track.id,
    overlap: 1,
    gold_rate: 0,
    qa: { tier1: true, tier2_sampling_pct: 0, tier3_spot_check_pct: 5, quality_threshold: 0.5, max_rework_rounds: 2 },
  });
  projectId = p.id;
  const up1 = await client.upload(p.id, 'notes.jsonl', Buffer.from(`${JSON.stringify({ id: 'n1', text: NOTE })}\n`));
  expect(up1.summary.items).toBe(1);
  const up2 = await client.upload(p.id, 'round-trip.txt', Buffer.from(ROUND_TRIP, 'utf8'));
  expect(up2.summary.items).toBe(1);
  await client.send('post', `/projects/${p.id}/steps`, { step: 'submit' });
  const pm = await Api.login(server, PEOPLE.pm.email, PASSWORD);
  const q = await pm.send('post', `/projects/${p.id}/quotes`, { adjustments: [] });
  await client.send('post', `/projects/${p.id}/quotes/${q.id}/decision`, { decision: 'approve' });
  await pm.send('post', `/projects/${p.id}/steps`, { step: 'start' });
  await pm.dispose();
  await client.dispose();
});
test.afterAll(async () => {
  await server?.stop();
});

async function as(browser: Browser, email: string, to: string): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
  await page.goto(`${server.url}${to}`);
  await signIn(page, email, PASSWORD);
  await expect(page.getByTestId('who')).toBeVisible();
  return page;
}

/** Selects the `nth` occurrence of `needle` in the note as a person dragging over it would, and releases the mouse. */
async function selectText(page: Page, needle: string, nth = 0) {
  await page.evaluate(
    ([needle, nth]) => {
      // Dragging in the note gives it the focus.
      (document.querySelector('[data-testid="note"]') as HTMLElement).focus({ preventScroll: true });
      const body = document.querySelector('[data-testid="note"] .note-body')!;
      const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT);
      const nodes: Text[] = [];
      const starts: number[] = [];
      let full = '';
      while (walker.nextNode()) {
        const t = walker.currentNode as Text;
        starts.push(full.length);
        nodes.push(t);
        full += t.data;
      }
      let i = -1;
      for (let k = 0; k <= (nth as number); k++) i = full.indexOf(needle as string, i + 1);
      if (i < 0) throw new Error(`${needle} is not in the note`);
      const at = (u: number): [Text, number] => {
        let k = starts.length - 1;
        while (starts[k]! > u) k--;
        return [nodes[k]!, u - starts[k]!];
      };
      const [a, ao] = at(i);
      const [b, bo] = at(i + (needle as string).length);
      window.getSelection()!.setBaseAndExtent(a, ao, b, bo);
      body.dispatchEvent(new MouseEvent('mouseup', { bubbles: true }));
    },
    [needle, nth] as const,
  );
}

/** The span row of the span list covering exactly `text`. */
function row(ws: Locator, text: string): Locator {
  return ws.getByTestId('span-list').getByTestId('span').filter({ hasText: `“${text}”` });
}

/** Clicks a span in the note (its first piece). */
async function clickSpan(ws: Locator, id: string) {
  await ws.getByTestId('note').locator(`.seg[data-first~="${id}"]`).first().click();
}

async function annotateMain(page: Page, ws: Locator) {
  const note = ws.getByTestId('note');
  await expect(note).toHaveAttribute('data-chars', String(charLen(NOTE)));
  // Three suggestions from ICD-10-CM, dashed: cough (R05), nausea (R11.0, after "denies": absent),
  // asthma (J45, the mother's: family history).
  await expect(ws.getByTestId('pending-count')).toContainText('3 suggestions');
  await expect(note.locator('.seg.suggested')).toHaveCount(3);
  await expect(row(ws, 'nausea')).toContainText('absent');
  await expect(row(ws, 'asthma')).toContainText('family history');
  // Keyboard: } to the first pending suggestion, y accepts it.
  await page.keyboard.press('}');
  const editor = ws.getByTestId('span-editor');
  await expect(editor).toContainText('“cough”');
  await expect(editor.getByTestId('codes')).toContainText('R05');
  await page.keyboard.press('y');
  await expect(row(ws, 'cough')).toHaveAttribute('data-state', 'accepted');
  // The next one (nausea) is rejected with x.
  await page.keyboard.press('}');
  await expect(editor).toContainText('“nausea”');
  await page.keyboard.press('x');
  await expect(row(ws, 'nausea')).toHaveAttribute('data-state', 'rejected');
  // Asthma: edited — a more specific code from the type-ahead (keyboard: c, the code, Enter).
  await page.keyboard.press('}');
  await expect(editor).toContainText('“asthma”');
  await page.keyboard.press('c');
  await page.keyboard.type('J45.909');
  await expect(editor.getByTestId('code-results')).toContainText('J45.909');
  await page.keyboard.press('Enter');
  await expect(editor.getByTestId('codes')).toContainText('J45.909');
  await expect(row(ws, 'asthma')).toHaveAttribute('data-state', 'edited');
  await expect(ws.getByTestId('pending-count')).toHaveCount(0);
  await expect(note.locator('.seg.suggested')).toHaveCount(0);

  // Spans by hand: select the text, press the label's key (1 disease, 2 symptom, 3 medication).
  await selectText(page, 'metformin');
  await page.keyboard.press('3');
  await expect(row(ws, 'metformin')).toHaveCount(1);
  await selectText(page, 'diabetes');
  await page.keyboard.press('1');
  await expect(row(ws, 'diabetes')).toHaveCount(1);
  // Its ICD-10-CM code, searched by words.
  await page.keyboard.press('c');
  await page.keyboard.type('type 2 diabetes without complications');
  await editor.getByRole('option', { name: /E11\.9/ }).click();
  await expect(editor.getByTestId('codes')).toContainText('E11.9');
  await expect(editor.getByTestId('codes')).toContainText('2026');
  // Its assertion: historical (which the reviewer will dispute).
  await editor.getByTestId('assertion').getByRole('radio', { name: 'historical' }).click();
  await expect(row(ws, 'diabetes')).toContainText('historical');
  // A nested span inside another: "woman with cough" as a symptom context is not in the schema, so
  // nest "yo woman" (symptom) over nothing else: overlapping spans stack in lanes.
  await selectText(page, '67 yo woman with cough');
  await page.keyboard.press('2');
  await expect(row(ws, '67 yo woman with cough')).toHaveCount(1);
  await expect(note.locator('.seg[data-spans~="S1"][data-spans~="T3"]')).toHaveCount(1);
  // …and remove it again (x deletes a span made by hand).
  await page.keyboard.press('x');
  await expect(row(ws, '67 yo woman with cough')).toHaveCount(0);

  // The relation: metformin treats diabetes (r on the head, click the tail).
  const metformin = await row(ws, 'metformin').getAttribute('data-span-id');
  const diabetes = await row(ws, 'diabetes').getAttribute('data-span-id');
  await clickSpan(ws, metformin!);
  await page.keyboard.press('r');
  await expect(ws.getByTestId('relating')).toBeVisible();
  await clickSpan(ws, diabetes!);
  await expect(ws.getByTestId('relation-list').getByTestId('relation')).toHaveCount(1);
  await expect(ws.getByTestId('relation-list')).toContainText('“metformin” treats → “diabetes”');
  await expect(note.locator('svg.note-arrows g[data-relation] path')).toHaveCount(1);

  // The sentence question for the selected span's sentence, and the document question by keyboard.
  await expect(ws.getByTestId('current-sentence')).toContainText('On metformin for diabetes.');
  await ws.getByTestId('sentence-question-smoking').getByRole('radio', { name: 'Never' }).click();
  await page.keyboard.press('q');
  await page.keyboard.press('2');
  await expect(ws.getByTestId('question-doctype').getByRole('radio', { name: /Progress note/ })).toHaveAttribute('aria-checked', 'true');
  const id = await ws.getAttribute('data-task-id');
  await ws.getByRole('button', { name: /^Submit/ }).click();
  await expect(page.locator(`[data-task-id="${id}"]`)).toHaveCount(0);
}

async function annotateRoundTrip(page: Page, ws: Locator): Promise<string> {
  await expect(ws.getByTestId('note')).toHaveAttribute('data-chars', String(charLen(ROUND_TRIP)));
  // Reject whatever was suggested (X), then mark two spans by selecting them…
  if (await ws.getByTestId('pending-count').count()) await page.keyboard.press('X');
  await expect(ws.getByTestId('pending-count')).toHaveCount(0);
  await selectText(page, 'e\u0301dema');
  await page.keyboard.press('2');
  await expect(row(ws, 'e\u0301dema')).toHaveCount(1);
  await selectText(page, 'co\u0308ugh \u{1F468}\u200D\u{1F469}\u200D\u{1F467}');
  await page.keyboard.press('2');
  await expect(row(ws, 'co\u0308ugh \u{1F468}\u200D\u{1F469}\u200D\u{1F467}')).toHaveCount(1);
  // …and one by keyboard from the start of the note, across the emoji and the CRLF:
  // → → to "édema", then Shift+→ three times to the end of "coügh".
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  for (let i = 0; i < 3; i++) await page.keyboard.press('Shift+ArrowRight');
  await page.keyboard.press('2');
  await expect(ws.getByTestId('span-list').getByTestId('span')).toHaveCount(3);
  await page.keyboard.press('q');
  await page.keyboard.press('1');
  await page.keyboard.press('q');
  const id = (await ws.getAttribute('data-task-id'))!;
  await ws.getByRole('button', { name: /^Submit/ }).click();
  await expect(page.locator(`[data-task-id="${id}"]`)).toHaveCount(0);
  return id;
}

test('a note: suggestions accepted/edited/rejected, spans, a relation, an assertion and an ICD-10-CM code; review by span; offsets round-trip', async ({ browser }) => {
  test.setTimeout(180_000);
  const page = await as(browser, PEOPLE.a.email, '/work');
  const ws = page.getByTestId('workspace');
  for (let i = 0; i < 2; i++) {
    const note = ws.getByTestId('note');
    await expect(note).toHaveAttribute('data-chars', /\d+/);
    if ((await note.getAttribute('data-chars')) === String(charLen(NOTE))) await annotateMain(page, ws);
    else await annotateRoundTrip(page, ws);
  }
  await expect(page.getByTestId('no-tasks')).toBeVisible();

  // The peer reviewer: spans read-only with their relation; one span rejected with a comment on it.
  const rev = await as(browser, PEOPLE.b.email, '/review/1');
  const rws = rev.getByTestId('review-workspace');
  const reviewer = await Api.login(server, PEOPLE.b.email, PASSWORD);
  for (let i = 0; i < 2; i++) {
    const note = rws.getByTestId('note');
    await expect(note).toHaveAttribute('data-chars', /\d+/);
    const id = (await rws.getAttribute('data-task-id'))!;
    if ((await note.getAttribute('data-chars')) === String(charLen(NOTE))) {
      // The rejected suggestion is not shown: four spans, one relation arrow.
      await expect(rws.getByTestId('span-list').getByTestId('span')).toHaveCount(4);
      await expect(note.locator('svg.note-arrows g[data-relation]')).toHaveCount(1);
      await row(rws, 'diabetes').getByRole('button').first().click();
      await expect(row(rws, 'diabetes')).toHaveAttribute('aria-current', 'true');
      await row(rws, 'diabetes').getByLabel('Comment on this span').fill('The diabetes is current: its status is present, not historical.');
      await rws.getByRole('button', { name: /^Reject/ }).click();
    } else {
      // The stored annotation: offsets in Unicode scalar values of the note, covered text exact.
      const t = await reviewer.get(`/tasks/${id}`);
      const spans = t.annotation.body.text.spans.filter((s: { state?: string }) => s.state !== 'rejected');
      const got = spans.map((s: { start: number; end: number; text: string }) => [s.start, s.end, s.text]);
      const want = ['e\u0301dema', 'co\u0308ugh \u{1F468}\u200D\u{1F469}\u200D\u{1F467}', 'e\u0301dema\r\nand co\u0308ugh'].map((w) => [charAt(ROUND_TRIP, w), charAt(ROUND_TRIP, w) + charLen(w), w]);
      expect(got).toEqual(want);
      // In UTF-16 units "édema" starts one later (the emoji counts twice): the server's offsets are not those.
      expect(ROUND_TRIP.indexOf('e\u0301dema')).toBe(want[0]![0] as number + 1);
      expect(t.annotation.body.answers).toEqual({ doctype: ['discharge'] });
      // The reviewer sees the same spans over the same text.
      for (const w of ['e\u0301dema', 'co\u0308ugh \u{1F468}\u200D\u{1F469}\u200D\u{1F467}']) await expect(row(rws, w)).toHaveCount(1);
      await rws.getByRole('button', { name: /^Accept/ }).click();
    }
    await expect(rev.locator(`[data-task-id="${id}"]`)).toHaveCount(0);
  }
  await expect(rev.getByTestId('no-reviews')).toBeVisible();
  await reviewer.dispose();

  // The author gets it back with the comment on that span, fixes the assertion and resubmits.
  await page.goto(`${server.url}/`);
  await page.getByTestId('section-returned').getByRole('link', { name: 'Rework' }).click();
  const rework = page.getByTestId('workspace');
  await expect(rework).toHaveAttribute('data-task-kind', 'rework');
  await expect(row(rework, 'diabetes').getByTestId('feedback')).toContainText('status is present');
  await expect(rework.getByTestId('note').locator('.seg.commented')).toHaveCount(1);
  await row(rework, 'diabetes').getByRole('button').first().click();
  await rework.getByTestId('span-editor').getByTestId('assertion').getByRole('radio', { name: 'present' }).click();
  await expect(row(rework, 'diabetes')).toContainText('present');
  const rid = await rework.getAttribute('data-task-id');
  await rework.getByRole('button', { name: /^Submit/ }).click();
  await expect(page.locator(`[data-task-id="${rid}"]`)).toHaveCount(0);

  // The quality of the suggestions, as the PM sees it from the API.
  const pm = await Api.login(server, PEOPLE.pm.email, PASSWORD);
  const q = await pm.get(`/projects/${projectId}/suggestion-quality`);
  expect(q.overall.accepted).toBe(1);
  expect(q.overall.edited).toBe(1);
  expect(q.overall.rejected).toBeGreaterThanOrEqual(1);
  await pm.dispose();
});

const LS_TEXT = 'Pt \u{1F600} started metformin for diabetes.\r\nDenies cough at night.\r\n';

/** A Label Studio JSON export of one task: "metformin" with the UTF-16 offsets an older Label
 * Studio stored, "diabetes" in code points with an assertion, a code and a relation, a document choice. */
function lsExport(): Buffer {
  const u16 = (n: string) => LS_TEXT.indexOf(n);
  const d = charAt(LS_TEXT, 'diabetes');
  return Buffer.from(JSON.stringify([{
    id: 41,
    data: { text: LS_TEXT },
    annotations: [{ id: 1, result: [
      { id: 'med', from_name: 'label', to_name: 'text', type: 'labels', value: { start: u16('metformin'), end: u16('metformin') + 9, text: 'metformin', labels: ['medication'] } },
      { id: 'dx', from_name: 'label', to_name: 'text', type: 'labels', value: { start: d, end: d + 8, text: 'diabetes', labels: ['disease'] } },
      { id: 'dx', from_name: 'assertion', to_name: 'text', type: 'choices', value: { start: d, end: d + 8, text: 'diabetes', choices: ['present'] } },
      { id: 'dx', from_name: 'code', to_name: 'text', type: 'textarea', value: { start: d, end: d + 8, text: ['icd10cm:E11.9'] } },
      { from_id: 'med', to_id: 'dx', type: 'relation', direction: 'right', labels: ['treats'] },
      { id: 'c', from_name: 'doctype', to_name: 'text', type: 'choices', value: { choices: ['discharge'] } },
    ] }],
  }]), 'utf8');
}

test('imported work: a Label Studio export and a project lexicon as suggestions; undo and redo', async ({ browser }) => {
  test.setTimeout(180_000);
  // Its own track and tasker, so the first project's queue is untouched.
  const admin = await Api.login(server, ADMIN.email, ADMIN.password);
  const prov = admin.me.organisation.id;
  const track = await admin.send('post', '/tracks', { slug: 'e2e-import', name: 'E2E Imported work' });
  const iris = { email: 'iris@provider.test', name: 'Iris Importer' };
  const u = await admin.createUser({ org_id: prov, email: iris.email, name: iris.name, role: 'tasker' });
  await admin.send('post', '/certifications', { user_id: u.id, track_id: track.id, expires_at: Date.now() + 365 * 86_400_000 });
  await admin.dispose();
  const client = await Api.login(server, PEOPLE.client.email, PASSWORD);
  const first = await client.get(`/projects/${projectId}`);
  const p = await client.send('post', '/projects', { ...first.spec, name: 'Imported problem lists', track_id: track.id, guidelines: '# Imported' });
  const up = await client.upload(p.id, 'export.json', lsExport());
  expect(up.summary.items).toBe(1);
  await client.send('post', `/projects/${p.id}/steps`, { step: 'submit' });
  const pmApi = await Api.login(server, PEOPLE.pm.email, PASSWORD);
  const q = await pmApi.send('post', `/projects/${p.id}/quotes`, { adjustments: [] });
  await client.send('post', `/projects/${p.id}/quotes/${q.id}/decision`, { decision: 'approve' });
  await pmApi.send('post', `/projects/${p.id}/steps`, { step: 'start' });
  await client.dispose();

  // The PM sets the lexicon on the project page: a bad line is named, a good file is taken.
  const pm = await as(browser, PEOPLE.pm.email, `/projects/${p.id}`);
  const lex = pm.getByTestId('section-lexicon');
  await expect(lex.getByTestId('lexicon-info')).toContainText('No lexicon');
  await lex.getByTestId('lexicon-file').setInputFiles({ name: 'lexicon.tsv', mimeType: 'text/tab-separated-values', buffer: Buffer.from('metformin\tdrug\n') });
  await expect(lex.getByRole('alert')).toContainText('lexicon line 1: label "drug" is not an entity type');
  await lex.getByTestId('lexicon-file').setInputFiles({ name: 'lexicon.tsv', mimeType: 'text/tab-separated-values', buffer: Buffer.from('# ours\ncough\tsymptom\ticd10cm:R05.9\n') });
  await expect(lex.getByTestId('lexicon-info')).toContainText('1 terms (symptom: 1)');

  const page = await as(browser, iris.email, '/work');
  const ws = page.getByTestId('workspace');
  const note = ws.getByTestId('note');
  await expect(note).toHaveAttribute('data-chars', String(charLen(LS_TEXT)));
  const editor = ws.getByTestId('span-editor');
  // The imported suggestions, in chars (the emoji is one): metformin and diabetes from Label Studio.
  await expect(row(ws, 'metformin')).toHaveAttribute('data-state', 'pending');
  await row(ws, 'metformin').getByRole('button').first().click();
  await expect(editor.getByTestId('span-origin')).toHaveText(' · from Label Studio');
  await expect(editor).toContainText(`chars ${charAt(LS_TEXT, 'metformin')}–${charAt(LS_TEXT, 'metformin') + 9}`);
  await expect(row(ws, 'diabetes')).toContainText('E11.9');
  // The suggested relation, dashed, and the suggested answer.
  const rel = ws.getByTestId('relation-list').getByTestId('relation');
  await expect(rel).toHaveAttribute('data-state', 'pending');
  await expect(note.locator('svg.note-arrows path[stroke-dasharray]')).toHaveCount(1);
  await expect(ws.getByTestId('question-doctype').getByRole('radio', { name: 'Discharge summary' })).toHaveAttribute('aria-checked', 'true');

  // Accept metformin (y); undo puts the decision back, redo (both keys) repeats it.
  await page.keyboard.press('y');
  await expect(row(ws, 'metformin')).toHaveAttribute('data-state', 'accepted');
  await page.keyboard.press('Control+z');
  await expect(row(ws, 'metformin')).toHaveAttribute('data-state', 'pending');
  await page.keyboard.press('Control+Shift+z');
  await expect(row(ws, 'metformin')).toHaveAttribute('data-state', 'accepted');
  await page.keyboard.press('Control+z');
  await expect(row(ws, 'metformin')).toHaveAttribute('data-state', 'pending');
  await page.keyboard.press('Control+y');
  await expect(row(ws, 'metformin')).toHaveAttribute('data-state', 'accepted');

  // The lexicon's suggestion: "cough" as a symptom with its code, accepted.
  await row(ws, 'cough').getByRole('button').first().click();
  await expect(editor.getByTestId('span-origin')).toHaveText(' · from project lexicon');
  await expect(editor.getByTestId('codes')).toContainText('R05.9');
  await page.keyboard.press('y');
  await expect(row(ws, 'cough')).toHaveAttribute('data-state', 'accepted');

  // A span by hand, undone and redone; an assertion change undone.
  await selectText(page, 'night');
  await page.keyboard.press('2');
  await expect(row(ws, 'night')).toHaveCount(1);
  await page.keyboard.press('Control+z');
  await expect(row(ws, 'night')).toHaveCount(0);
  await page.keyboard.press('Control+Shift+z');
  await expect(row(ws, 'night')).toHaveCount(1);
  await page.keyboard.press('x');
  await expect(row(ws, 'night')).toHaveCount(0);
  await row(ws, 'diabetes').getByRole('button').first().click();
  await editor.getByTestId('assertion').getByRole('radio', { name: 'possible' }).click();
  await expect(row(ws, 'diabetes')).toContainText('possible');
  await page.keyboard.press('Control+z');
  await expect(row(ws, 'diabetes')).toContainText('present');
  await expect(row(ws, 'diabetes')).toHaveAttribute('data-state', 'pending');
  // An answer, undone back to the suggested one.
  await ws.getByTestId('question-doctype').getByRole('radio', { name: 'Progress note' }).click();
  await expect(ws.getByTestId('question-doctype').getByRole('radio', { name: 'Progress note' })).toHaveAttribute('aria-checked', 'true');
  await page.keyboard.press('Control+z');
  await expect(ws.getByTestId('question-doctype').getByRole('radio', { name: 'Discharge summary' })).toHaveAttribute('aria-checked', 'true');

  // The relation accepted from the list, the rest accepted, submitted.
  await rel.getByRole('button', { name: /Accept relation/ }).click();
  await expect(rel).toHaveAttribute('data-state', 'accepted');
  await expect(note.locator('svg.note-arrows path[stroke-dasharray]')).toHaveCount(0);
  await ws.getByTestId('pending-count').getByRole('button', { name: 'accept all' }).click();
  await expect(ws.getByTestId('pending-count')).toHaveCount(0);
  const tid = await ws.getAttribute('data-task-id');
  await ws.getByRole('button', { name: /^Submit/ }).click();
  await expect(page.locator(`[data-task-id="${tid}"]`)).toHaveCount(0);

  // Stored: the imported spans and the lexicon's as accepted suggestions, the relation accepted.
  const quality = await pmApi.get(`/projects/${p.id}/suggestion-quality`);
  expect(quality.overall.suggested).toBeGreaterThanOrEqual(3);
  expect(quality.overall.rejected).toBe(0);
  expect(quality.by_label.medication.accepted).toBe(1);
  expect(quality.by_label.symptom.accepted).toBe(1);
  await pmApi.dispose();
});
