// The newcomer's path: `clinlabel serve --demo`, then sign in as each printed
// demo account and see that role's home page.
import { expect, test } from '@playwright/test';
import { expectTitle, signIn, startServer, type Server } from './server';

let server: Server;
test.beforeAll(async () => {
  server = await startServer({ demo: true });
});
test.afterAll(async () => {
  await server?.stop();
});

const ROLES = ['admin', 'pm', 'qa_reviewer', 'tasker', 'client_admin', 'client_member'];

test('serve --demo prints one account per role', () => {
  const roles = new Set(server.demoUsers.map((u) => u.role));
  for (const r of ROLES) expect(roles, `a demo ${r}`).toContain(r);
});

for (const role of ROLES) {
  test(`demo ${role} signs in to the ${role} home page`, async ({ page }) => {
    const u = server.demoUsers.find((x) => x.role === role)!;
    await page.goto(server.url);
    await signIn(page, u.email, u.password);
    await expect(page.getByTestId(`home-${role}`)).toBeVisible();
    await expectTitle(page, 'Home');
    if (role === 'tasker') {
      // The demo's taskers are certified: their certifications come from the API.
      await expect(page.getByRole('table', { name: 'My certifications' }).locator('tbody tr').first()).toBeVisible();
    }
  });
}
