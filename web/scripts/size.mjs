// The size budget of `make test`: the app's JavaScript at most 150 KB gzipped (all of
// dist/assets/*.js, what a first visit downloads). Prints the JS and CSS figures.
import { readdirSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const BUDGET = 150 * 1000;
const dir = new URL("../dist/assets/", import.meta.url);
let js = 0;
let css = 0;
for (const name of readdirSync(dir)) {
  const gz = gzipSync(readFileSync(new URL(name, dir)), { level: 9 }).length;
  if (name.endsWith(".js")) js += gz;
  else if (name.endsWith(".css")) css += gz;
}
const kb = (n) => `${(n / 1000).toFixed(1)} KB`;
console.log(`web client: JavaScript ${kb(js)} gzipped (budget ${kb(BUDGET)}), CSS ${kb(css)} gzipped`);
if (js === 0) {
  console.error("no JavaScript in web/dist/assets: build the client first (scripts/web.sh build)");
  process.exit(1);
}
if (js > BUDGET) {
  console.error(`the app's JavaScript is over its budget by ${kb(js - BUDGET)}`);
  process.exit(1);
}
