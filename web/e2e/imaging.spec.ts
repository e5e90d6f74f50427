// Issue 8, the image workspace in the browser: a real multi-frame MR from
// pydicom's test files (de-identified at ingest, served by the frame
// service) — the tasker changes window/level, scrolls frames, draws one
// shape with each tool (2D box, 3D box across slices, polygon, freehand,
// spline, brush, keypoints), edits one and undoes/redoes it, measures in mm,
// classifies the finding and submits; a peer reviewer comments on one shape
// and rejects; the author sees the comment on that shape.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { expect, test, type Browser, type Locator, type Page } from '@playwright/test';
import { Api, PASSWORD, signIn, startServer, type Server } from './server';

let server: Server;
const PEOPLE = {
  client: { email: 'cleo@client.test', name: 'Cleo Client' },
  pm: { email: 'pat@provider.test', name: 'Pat Manager' },
  a: { email: 'rita@provider.test', name: 'Rita Radiologist' },
  b: { email: 'raj@provider.test', name: 'Raj Radiologist' },
};

/** A real file from pydicom's test data (fetched by ci/testdata/dicom.sh). */
function pydicomFile(name: string, frames: number): Buffer {
  const root = process.env.CLINLABEL_TESTDATA ?? path.join(homedir(), '.cache', 'clinlabel-testdata');
  const ref = path.join(root, 'dicom', 'reference.json');
  let entries: { name: string; path: string; frames: number }[];
  try {
    entries = JSON.parse(readFileSync(ref, 'utf8')).entries;
  } catch (e) {
    throw new Error(`${ref} is missing (${e}): run \`bash ci/testdata/dicom.sh\` to fetch pydicom's test files`);
  }
  const e = entries.find((x) => x.name === name);
  if (!e) throw new Error(`${name} is not in reference.json: re-run ci/testdata/dicom.sh`);
  expect(e.frames).toBe(frames);
  return readFileSync(e.path);
}

test.beforeAll(async () => {
  server = await startServer();
  const admin = await Api.setup(server);
  const org = await admin.createOrg('Radiology Partners', 'client');
  const prov = admin.me.organisation.id;
  await admin.createUser({ org_id: org.id, email: PEOPLE.client.email, name: PEOPLE.client.name, role: 'client_admin' });
  await admin.createUser({ org_id: prov, email: PEOPLE.pm.email, name: PEOPLE.pm.name, role: 'pm' });
  const track = await admin.send('post', '/tracks', { slug: 'e2e-neuro', name: 'E2E Neuroradiology' });
  for (const t of [PEOPLE.a, PEOPLE.b]) {
    const u = await admin.createUser({ org_id: prov, email: t.email, name: t.name, role: 'tasker' });
    await admin.send('post', '/certifications', { user_id: u.id, track_id: track.id, expires_at: Date.now() + 365 * 86_400_000 });
  }
  const nda = await admin.send('post', '/agreements', { kind: 'nda', title: 'NDA', body: 'Confidential.' });
  const dpa = await admin.send('post', '/agreements', { kind: 'dpa', title: 'DPA', body: 'On instructions only.' });
  await admin.dispose();
  const client = await Api.login(server, PEOPLE.client.email, PASSWORD);
  for (const a of [nda, dpa]) await client.send('post', `/agreements/${a.id}/sign`, { full_name: PEOPLE.client.name });
  const lesion = { id: 'lesion', name: 'Lesion' };
  const organ = { id: 'organ', name: 'Organ' };
  const opts = (...ids: string[]) => ids.map((id) => ({ id, name: id[0]!.toUpperCase() + id.slice(1) }));
  const p = await client.send('post', '/projects', {
    name: 'Brain MR — lesions and landmarks',
    modality: 'image',
    task_types: ['bounding_box', 'segmentation', 'keypoints', 'classification'],
    schema: {
      image_tools: [
        { tool: 'bounding_box_2d', labels: [lesion] },
        { tool: 'bounding_box_3d', labels: [lesion] },
        { tool: 'polygon', labels: [organ] },
        { tool: 'freehand', labels: [organ] },
        { tool: 'spline', labels: [organ] },
        { tool: 'brush', labels: [{ id: 'tissue', name: 'Tissue' }] },
        { tool: 'keypoints', keypoint_set: 'landmarks' },
      ],
      keypoint_sets: [{ id: 'landmarks', name: 'Landmarks', points: ['apex', 'base'] }],
      questions: [
        { id: 'finding', text: 'Finding type', kind: 'single', level: 'series', options: opts('mass', 'haemorrhage', 'none') },
        { id: 'severity', text: 'Severity', kind: 'single', level: 'series', ordinal: true, options: opts('mild', 'moderate', 'severe') },
        { id: 'laterality', text: 'Laterality', kind: 'single', level: 'series', options: opts('left', 'right', 'bilateral') },
        { id: 'certainty', text: 'Certainty', kind: 'single', level: 'series', options: opts('definite', 'probable', 'possible') },
        { id: 'slice_quality', text: 'Slice quality', kind: 'single', level: 'image', required: false, options: opts('diagnostic', 'artefact') },
      ],
    },
    guidelines: '# Guidelines\n\nBox every lesion; outline the organ; place the landmarks.',
    output_formats: ['native_json'],
    deadline: Date.now() + 30 * 86_400_000,
    track_id: track.id,
    overlap: 1,
    gold_rate: 0,
    qa: { tier1: true, tier2_sampling_pct: 0, tier3_spot_check_pct: 5, quality_threshold: 0.5, max_rework_rounds: 2 },
  });
  // A 10-frame MR (64×64, no pixel spacing) and a CT slice (128×128, 0.66 mm pixels).
  for (const [name, file, frames] of [['emri_small.dcm', 'pydicom-data/emri_small.dcm', 10], ['ct.dcm', 'pydicom/CT_small.dcm', 1]] as const) {
    const up = await client.upload(p.id, name, pydicomFile(file, frames));
    expect(up.summary.items).toBe(1);
  }
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

/** Screen position of image pixel (x, y) on the viewer's canvas, as the viewer fits the image (no pan/zoom). */
async function at(canvas: Locator, x: number, y: number): Promise<{ x: number; y: number }> {
  const box = (await canvas.boundingBox())!;
  const viewer = canvas.locator('xpath=..');
  const [w, h] = [Number(await viewer.getAttribute('data-columns')), Number(await viewer.getAttribute('data-rows'))];
  const [cw, ch] = [640, 512];
  const scale = Math.min(cw / w, ch / h);
  const tx = (cw - w * scale) / 2, ty = (ch - h * scale) / 2;
  return { x: box.x + ((tx + x * scale) * box.width) / cw, y: box.y + ((ty + y * scale) * box.height) / ch };
}
async function drag(page: Page, canvas: Locator, from: [number, number], to: [number, number], steps = 5) {
  const a = await at(canvas, ...from), b = await at(canvas, ...to);
  await page.mouse.move(a.x, a.y);
  await page.mouse.down();
  await page.mouse.move(b.x, b.y, { steps });
  await page.mouse.up();
}
async function click(page: Page, canvas: Locator, x: number, y: number) {
  const p = await at(canvas, x, y);
  await page.mouse.click(p.x, p.y);
}

async function classify(ws: Locator) {
  for (const [q, o] of [['finding', 'Mass'], ['severity', 'Moderate'], ['laterality', 'Left'], ['certainty', 'Probable']] as const) {
    await ws.getByTestId(`question-${q}`).getByRole('radio', { name: o }).click();
  }
}

/** The CT slice: a distance measured in millimetres from its pixel spacing; then classified and submitted. */
async function measureCt(page: Page, ws: Locator) {
  const viewer = ws.getByTestId('viewer');
  const canvas = viewer.getByTestId('viewer-canvas');
  await expect(viewer).toHaveAttribute('data-columns', '128');
  await page.keyboard.press('m');
  await drag(page, canvas, [0, 64], [100, 64]);
  // 100 pixels × 0.661468 mm (CT_small's Pixel Spacing).
  await expect(viewer.getByTestId('measurement')).toHaveText('66.1 mm');
  await page.keyboard.press('b');
  await drag(page, canvas, [40, 40], [80, 80]);
  await classify(ws);
  const id = await ws.getAttribute('data-task-id');
  await ws.getByRole('button', { name: /^Submit/ }).click();
  await expect(page.locator(`[data-task-id="${id}"]`)).toHaveCount(0);
}

test('a multi-frame series: window/level, frames, every tool, edit with undo, classify, submit; a reviewer comments on a shape', async ({ browser }) => {
  test.setTimeout(180_000);
  const page = await as(browser, PEOPLE.a.email, '/work');
  const ws = page.getByTestId('workspace');
  const viewer = ws.getByTestId('viewer');
  await expect(viewer).toHaveAttribute('data-frames', /^(10|1)$/);
  // The two tasks come in either order: the CT slice first, if so.
  let ctDone = false;
  if ((await viewer.getAttribute('data-frames')) === '1') {
    await measureCt(page, ws);
    ctDone = true;
  }
  await expect(viewer).toHaveAttribute('data-frames', '10');
  const canvas = viewer.getByTestId('viewer-canvas');
  await expect(viewer).not.toHaveAttribute('data-window', '');

  // Window/level: a preset, then a drag with the W/L tool.
  await viewer.locator('[data-preset="brain"]').click();
  await expect(viewer).toHaveAttribute('data-window', '40/80');
  await page.keyboard.press('w');
  await drag(page, canvas, [32, 32], [44, 40]);
  const dragged = await viewer.getAttribute('data-window');
  expect(dragged).not.toBe('40/80');
  await expect(viewer.getByTestId('window-label')).toBeVisible();

  // Frames: the wheel and the keys.
  const mid = await at(canvas, 32, 32);
  await page.mouse.move(mid.x, mid.y);
  await page.mouse.wheel(0, 120);
  await expect(viewer).toHaveAttribute('data-frame', '1');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  await expect(viewer).toHaveAttribute('data-frame', '3');
  await expect(viewer.getByTestId('frame-label')).toHaveText('Frame 4 / 10');
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowLeft');
  await expect(viewer).toHaveAttribute('data-frame', '0');

  // One shape with each tool.
  await page.keyboard.press('b');
  await drag(page, canvas, [8, 8], [20, 20]);
  await expect(ws.getByTestId('shape-bounding_box_2d')).toHaveCount(1);

  await page.keyboard.press('n');
  await drag(page, canvas, [36, 36], [50, 50]);
  await expect(ws.getByTestId('shape-bounding_box_3d')).toHaveCount(1);
  await page.keyboard.press('PageDown');
  await page.keyboard.press('PageDown');
  await expect(viewer).toHaveAttribute('data-frame', '2');
  await viewer.getByRole('button', { name: 'End here' }).click();
  await expect(viewer.getByTestId('box3d-range')).toContainText('Slices 1–3');
  await expect(ws.getByTestId('shape-bounding_box_3d')).toContainText('frames 1–3');
  await page.keyboard.press('PageUp');
  await page.keyboard.press('PageUp');

  await page.keyboard.press('p');
  await click(page, canvas, 4, 40);
  await click(page, canvas, 16, 40);
  await click(page, canvas, 10, 54);
  await canvas.press('Enter');
  await expect(ws.getByTestId('shape-polygon')).toHaveCount(1);

  await page.keyboard.press('f');
  {
    const pts: [number, number][] = [[40, 4], [50, 6], [56, 14], [48, 20], [40, 14]];
    const first = await at(canvas, ...pts[0]!);
    await page.mouse.move(first.x, first.y);
    await page.mouse.down();
    for (const p of pts.slice(1)) {
      const s = await at(canvas, ...p);
      await page.mouse.move(s.x, s.y, { steps: 3 });
    }
    await page.mouse.up();
  }
  await expect(ws.getByTestId('shape-freehand')).toHaveCount(1);

  await page.keyboard.press('k');
  await click(page, canvas, 24, 26);
  await click(page, canvas, 34, 24);
  await click(page, canvas, 30, 34);
  await canvas.press('Enter');
  await expect(ws.getByTestId('shape-spline')).toHaveCount(1);

  await page.keyboard.press('g');
  await drag(page, canvas, [20, 58], [34, 58]);
  await expect(ws.getByTestId('mask-count')).toContainText('tissue');

  await page.keyboard.press('t');
  await expect(viewer.getByTestId('keypoint-next')).toContainText('apex');
  await click(page, canvas, 58, 40);
  await expect(viewer.getByTestId('keypoint-next')).toContainText('base');
  await viewer.getByRole('button', { name: 'Not visible' }).click();
  await expect(ws.getByTestId('shape-keypoints')).toHaveCount(1);
  await expect(ws.getByTestId('shape-list').locator(':scope > li')).toHaveCount(6);

  // Edit: move the 2D box with the select tool; undo and redo the move.
  const box = ws.getByTestId('shape-bounding_box_2d');
  await expect(box).toContainText('(8, 8)–(20, 20)');
  await page.keyboard.press('v');
  await drag(page, canvas, [14, 14], [24, 14]);
  await expect(box).toHaveAttribute('aria-current', 'true');
  await expect(box).toContainText('(18, 8)–(30, 20)');
  await viewer.getByRole('button', { name: /^Undo/ }).click();
  await expect(box).toContainText('(8, 8)–(20, 20)');
  await viewer.getByRole('button', { name: /^Redo/ }).click();
  await expect(box).toContainText('(18, 8)–(30, 20)');
  await page.keyboard.press('Control+z');
  await expect(box).toContainText('(8, 8)–(20, 20)');
  await page.keyboard.press('Control+y');
  await expect(box).toContainText('(18, 8)–(30, 20)');
  // A corner dragged resizes it.
  await drag(page, canvas, [30, 20], [34, 26]);
  await expect(box).toContainText('(18, 8)–(34, 26)');

  // Measure: this series has no pixel spacing, so the distance is in pixels.
  await page.keyboard.press('m');
  await drag(page, canvas, [0, 32], [32, 32]);
  await expect(viewer.getByTestId('measurement')).toHaveText('32.0 px');
  await expect(viewer.getByTestId('viewer-status')).toContainText('no pixel spacing');

  // Classify the finding (series level) and one frame, then submit.
  await classify(ws);
  await ws.getByTestId('question-slice_quality').getByRole('radio', { name: 'Diagnostic' }).click();
  const taskId = await ws.getAttribute('data-task-id');
  await ws.getByRole('button', { name: /^Submit/ }).click();
  await expect(page.locator(`[data-task-id="${taskId}"]`)).toHaveCount(0);
  if (!ctDone) await measureCt(page, ws);
  await expect(page.getByTestId('no-tasks')).toBeVisible();

  // The peer reviewer sees the shapes on the same frames and comments on the polygon.
  const rev = await as(browser, PEOPLE.b.email, '/review/1');
  const rws = rev.getByTestId('review-workspace');
  for (let i = 0; i < 2; i++) {
    await expect(rws.getByTestId('viewer')).toHaveAttribute('data-frames', /^(10|1)$/);
    const id = await rws.getAttribute('data-task-id');
    if ((await rws.getByTestId('viewer').getAttribute('data-frames')) === '1') {
      await expect(rws.getByTestId('shape-list').locator(':scope > li')).toHaveCount(1);
      await rws.getByRole('button', { name: /^Accept/ }).click();
    } else {
      await expect(rws.getByTestId('shape-list').locator(':scope > li')).toHaveCount(6);
      const poly = rws.getByTestId('shape-polygon');
      await poly.getByRole('button').first().click();
      await expect(poly).toHaveAttribute('aria-current', 'true');
      await poly.getByLabel('Comment on this shape').fill('The outline misses the lower pole.');
      await rws.getByRole('button', { name: /^Reject/ }).click();
    }
    await expect(rev.locator(`[data-task-id="${id}"]`)).toHaveCount(0);
  }
  await expect(rev.getByTestId('no-reviews')).toBeVisible();

  // The author gets it back with the comment on that shape.
  await page.goto(`${server.url}/`);
  await page.getByTestId('section-returned').getByRole('link', { name: 'Rework' }).click();
  const rework = page.getByTestId('workspace');
  await expect(rework).toHaveAttribute('data-task-kind', 'rework');
  await expect(rework.getByTestId('shape-polygon').getByTestId('feedback')).toContainText('misses the lower pole');
  await expect(rework.getByTestId('shape-list').locator(':scope > li')).toHaveCount(6);
  // The author drags the polygon's lower vertex down and resubmits.
  const rcanvas = rework.getByTestId('viewer-canvas');
  await expect(rework.getByTestId('viewer')).not.toHaveAttribute('data-window', '');
  await rework.getByTestId('shape-polygon').getByRole('button').first().click();
  await page.keyboard.press('v');
  await drag(page, rcanvas, [10, 54], [10, 60]);
  await expect(rework.getByTestId('shape-polygon')).toContainText('3 points');
  const rid = await rework.getAttribute('data-task-id');
  await rework.getByRole('button', { name: /^Submit/ }).click();
  await expect(page.locator(`[data-task-id="${rid}"]`)).toHaveCount(0);
});
