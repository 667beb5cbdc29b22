// Pictures in a conversation (issue 18), in a real browser: Ada attaches files in a direct
// conversation with Bo. A text file and a picture over 5 MB are refused in the composer, with a
// visible reason and without any upload; a small PNG goes up (POST /api/uploads, then the presigned
// PUT straight to the bucket) and is sent with a caption; the message shows the picture inline,
// and it loads. Bo, opening the conversation, sees it too. No console errors.
import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const artifacts = resolve(dirname(fileURLToPath(import.meta.url)), "../../target/web-artifacts");

const run = Date.now().toString(36).slice(-5) + Math.floor(Math.random() * 1000);
const password = "correct horse battery";

// A 1x1 PNG (one opaque pixel).
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);

interface Session {
  token: string;
  refreshToken: string;
  user: { id: string; username: string };
}

async function registerByApi(request: APIRequestContext, username: string): Promise<Session> {
  const response = await request.post("/api/auth/register", {
    data: { username, email: `${username}@example.com`, password, firstName: "Bo" },
  });
  expect(response.status(), await response.text()).toBe(201);
  return (await response.json()) as Session;
}

function watchConsole(page: Page, errors: string[]) {
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));
}

test("pictures: refused files never upload; a PNG is sent and shows inline", async ({ page, browser, request }) => {
  const errors: string[] = [];
  watchConsole(page, errors);
  const bo = await registerByApi(request, `bo${run}`);

  // Ada registers in the browser and starts a direct conversation with Bo.
  await page.goto("/#/register");
  await page.getByLabel("Username").fill(`ada${run}`);
  await page.getByLabel("Email").fill(`ada${run}@example.com`);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByRole("button", { name: "Log out" })).toBeVisible();
  const adaToken = await page.evaluate(() => (JSON.parse(localStorage.getItem("switchboard.session")!) as { token: string }).token);
  const started = await request.post("/api/conversations/direct", {
    headers: { authorization: `Bearer ${adaToken}` },
    data: { userId: bo.user.id },
  });
  expect(started.ok(), await started.text()).toBe(true);
  const conversationId = ((await started.json()) as { conversation: { id: string } }).conversation.id;
  await page.goto(`/#/c/${conversationId}`);
  await expect(page.getByText("No messages yet: say hello.")).toBeVisible();

  // Every upload the page starts (POST /api/uploads), and every PUT that leaves for the bucket.
  const uploads: string[] = [];
  page.on("request", (r) => {
    const path = new URL(r.url()).pathname;
    if (path === "/api/uploads" || (r.method() === "PUT" && !path.startsWith("/api/"))) {
      uploads.push(`${r.method()} ${r.url()}`);
    }
  });

  const attach = page.getByLabel("Attach pictures");
  const refused = page.getByTestId("attach-refused");
  const chips = page.getByRole("list", { name: "Attached pictures" }).locator("li[data-file]");
  const send = page.getByRole("button", { name: "Send" });

  // A text file: refused, with its reason.
  await attach.setInputFiles({ name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("not a picture") });
  await expect(refused).toContainText("“notes.txt” is not a JPEG, PNG or GIF picture");
  await expect(chips).toHaveCount(0);
  await expect(send).toBeDisabled();

  // A PNG just over 5 MB: refused too.
  const big = Buffer.concat([PNG, Buffer.alloc(5 * 1024 * 1024 + 1 - PNG.length)]);
  await attach.setInputFiles({ name: "huge.png", mimeType: "image/png", buffer: big });
  await expect(refused).toContainText("“huge.png” (5.0 MB) was not added: at most 5 MB of pictures per message");
  await expect(chips).toHaveCount(0);

  // The small PNG: a chip with its remove button; removed, then chosen again.
  await attach.setInputFiles({ name: "dot.png", mimeType: "image/png", buffer: PNG });
  await expect(refused).toHaveCount(0);
  await expect(chips).toHaveCount(1);
  await page.getByRole("button", { name: "Remove dot.png" }).click();
  await expect(chips).toHaveCount(0);
  await attach.setInputFiles({ name: "dot.png", mimeType: "image/png", buffer: PNG });
  await expect(chips).toHaveCount(1);
  expect(uploads).toEqual([]);

  // Sent with a caption: one upload, one PUT to the bucket, then the message with its picture.
  await page.getByLabel("Message", { exact: true }).fill("A dot for you");
  await send.click();
  const message = page.locator("li.message.mine").filter({ hasText: "A dot for you" });
  const picture = message.locator(".media img");
  await expect(picture).toBeVisible();
  await expect.poll(() => picture.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBeGreaterThan(0);
  await expect(chips).toHaveCount(0);
  expect(uploads.filter((u) => u.startsWith("POST ")).length).toBe(1);
  expect(uploads.filter((u) => u.startsWith("PUT ")).length).toBe(1);
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: resolve(artifacts, "pictures.png") });

  // Bo opens the conversation: the picture is there for him too.
  const context = await browser.newContext();
  await context.addInitScript((session) => {
    localStorage.setItem("switchboard.session", session);
  }, JSON.stringify({ token: bo.token, refreshToken: bo.refreshToken, user: bo.user }));
  const boPage = await context.newPage();
  watchConsole(boPage, errors);
  await boPage.goto(`/#/c/${conversationId}`);
  const seen = boPage.locator("li.message").filter({ hasText: "A dot for you" }).locator(".media img");
  await expect(seen).toBeVisible();
  await expect.poll(() => seen.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBeGreaterThan(0);
  await context.close();

  expect(errors).toEqual([]);
});
