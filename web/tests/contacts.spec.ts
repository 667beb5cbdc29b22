// The Contacts screen in a real browser: a user adds a contact as people type a phone, finds it by
// the start of its name in any case, renames it, imports a .vcf file (one new card, one already a
// contact, one without a phone) and reads what each card became, then deletes a contact. No
// console errors.
import { expect, test } from "@playwright/test";

const run = Date.now().toString(36).slice(-5) + Math.floor(Math.random() * 1000);
const password = "correct horse battery";

test("contacts: add, search, rename, import a vCard file, delete", async ({ page }) => {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));

  await page.goto("/#/register");
  await page.getByLabel("Username").fill(`cora${run}`);
  await page.getByLabel("Email").fill(`cora${run}@example.com`);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByRole("button", { name: "Log out" })).toBeVisible();

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Contacts" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Contacts" })).toBeVisible();
  await expect(page.getByText("No contacts yet.")).toBeVisible();

  // Add: the phone as people type it comes back in E.164.
  const add = page.getByRole("form", { name: "Add a contact" });
  await add.getByLabel("Name").fill("Grace Hopper");
  await add.getByLabel("Phone").fill("(415) 555-0177");
  await add.getByLabel("Notes (optional)").fill("COBOL");
  await add.getByRole("button", { name: "Add contact" }).click();
  const grace = page.locator('[data-contact="+14155550177"]');
  await expect(grace).toContainText("Grace Hopper");
  await expect(grace).toContainText("COBOL");

  // The same phone again: the API's words, in place.
  await add.getByLabel("Name").fill("Grace again");
  await add.getByLabel("Phone").fill("+1 415 555 0177");
  await add.getByRole("button", { name: "Add contact" }).click();
  await expect(page.getByRole("alert")).toContainText("already have a contact with that phone number");

  // Import: one new card, one phone already a contact, one card without a phone.
  const vcard = [
    "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Alan Turing\r\nTEL;TYPE=CELL:+44 20 7946 0123\r\nEND:VCARD",
    "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Grace H.\r\nTEL:+14155550177\r\nEND:VCARD",
    "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Nobody\r\nEND:VCARD",
  ].join("\r\n");
  await page.getByLabel("Import a vCard file (.vcf)").setInputFiles({
    name: "contacts.vcf",
    mimeType: "text/vcard",
    buffer: Buffer.from(vcard),
  });
  const summary = page.getByRole("status").filter({ hasText: "Imported" });
  await expect(summary).toContainText("Imported 1, skipped 1 already in your contacts and 1 without");
  await expect(summary).toContainText("Card 3 (Nobody): no phone number (TEL)");
  await expect(page.locator('[data-contact="+442079460123"]')).toContainText("Alan Turing");

  // Search by the start of a name, in any case.
  await page.getByLabel("Search by name").fill("gRA");
  await expect(page.locator("[data-contact]")).toHaveCount(1);
  await expect(grace).toBeVisible();
  await page.getByLabel("Search by name").fill("zz");
  await expect(page.getByText("No contact starts with that.")).toBeVisible();
  await page.getByLabel("Search by name").fill("");
  await expect(page.locator("[data-contact]")).toHaveCount(2);

  // Rename Grace.
  await grace.getByRole("button", { name: "Edit Grace Hopper" }).click();
  const edit = page.getByRole("form", { name: "Edit Grace Hopper" });
  await edit.getByLabel("Name").fill("Admiral Hopper");
  await edit.getByRole("button", { name: "Save" }).click();
  await expect(grace).toContainText("Admiral Hopper");

  // Delete Alan, after the question.
  const alan = page.locator('[data-contact="+442079460123"]');
  await alan.getByRole("button", { name: "Delete Alan Turing" }).click();
  await page.getByRole("button", { name: "Yes, delete" }).click();
  await expect(alan).toHaveCount(0);
  await expect(page.locator("[data-contact]")).toHaveCount(1);

  // The duplicate's 409 was shown on purpose; nothing else may have failed.
  expect(errors.filter((e) => !e.includes("status of 409"))).toEqual([]);
});
