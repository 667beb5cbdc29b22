// Browser tests of the web client, run by `make test` (scripts/test.sh) against the local stack
// it starts: headless Chromium from Debian's packages (Playwright's own browser builds are not
// downloadable here), driven by @playwright/test.
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: "tests",
  timeout: 240_000,
  globalTimeout: 600_000,
  expect: { timeout: 20_000 },
  workers: 1,
  forbidOnly: true,
  reporter: [["list"]],
  outputDir: "../target/web-artifacts/results",
  use: {
    baseURL: process.env.SWITCHBOARD_WEB_URL ?? "http://127.0.0.1:5173",
    browserName: "chromium",
    headless: true,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      // No background traffic: this machine's network reaches only the package registries.
      args: ["--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"],
    },
    actionTimeout: 20_000,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
  },
});
