// Drives a running code-server in Debian's headless Chromium (puppeteer-core, which never
// downloads a browser) as a person would: opens a file, types, reads the ghost text, presses
// Tab, runs commands from the palette, changes a setting in the Settings editor. Used by tests/test_vscode_browser.py ("check") and
// benchmarks/vscode_ghost_text.py ("bench").
//
// usage: node driver.mjs check|bench CONFIG.json
// CONFIG: url, chromium, out (folder for screenshots), file (to open, relative to the
// workspace), typed / replay (what to type), timeoutMs, quietMs.
// Prints one line of JSON with what it saw; on an error also saves out/failure.png.
import fs from "fs";
import path from "path";
import puppeteer from "puppeteer-core";

const [scenario, configFile] = process.argv.slice(2);
const config = JSON.parse(fs.readFileSync(configFile, "utf8"));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync"];

/** Polls `probe` (run in the page) until it returns something truthy; undefined at the timeout. */
async function waitFor(page, probe, timeoutMs, arg) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const value = await page.evaluate(probe, arg);
    if (value) {
      return value;
    }
    await sleep(50);
  }
  return undefined;
}

/** The Cove status bar item's text (codicons are empty spans), or "" before it exists. */
const statusText = () => {
  const items = [...document.querySelectorAll(".statusbar-item")].map((e) => e.textContent.trim());
  return items.find((text) => text.startsWith("Cove")) ?? "";
};

/** The ghost text in the editor: the first line's decoration, then any further lines. */
const ghostText = () => {
  const first = [...document.querySelectorAll(".monaco-editor span.ghost-text-decoration")];
  if (first.length === 0) {
    return null;
  }
  const more = [...document.querySelectorAll(".monaco-editor div.ghost-text .view-line")];
  return [first.map((e) => e.textContent).join(""), ...more.map((e) => e.textContent)].join("\n").replace(/\u00a0/g, " ");
};

const notifications = () => [...document.querySelectorAll(".notification-toast")].map((e) => e.textContent).join("\n");

async function openFile(page, name) {
  await page.keyboard.down("Control");
  await page.keyboard.press("p");
  await page.keyboard.up("Control");
  await page.waitForSelector(".quick-input-widget input", { visible: true });
  await page.keyboard.type(name);
  await waitFor(page, (n) => [...document.querySelectorAll(".quick-input-list .monaco-list-row")]
    .some((row) => row.textContent.includes(n)), 10000, name);
  await page.keyboard.press("Enter");
  await page.waitForSelector(".editor-instance .monaco-editor .view-lines", { visible: true });
  await waitFor(page, (n) => document.querySelector(".tab.active")?.textContent.includes(n), 10000, name);
  await page.click(".editor-instance .monaco-editor .view-lines");
}

async function chord(page, modifier, key) {
  await page.keyboard.down(modifier);
  await page.keyboard.press(key);
  await page.keyboard.up(modifier);
}

/** The cursor on a new line at the end of the file (VS Code indents it). */
async function newLineAtEnd(page) {
  await chord(page, "Control", "End");
  await page.keyboard.press("End");
  await page.keyboard.press("Enter");
}

/** Waits until the status item shows the model loaded (or an error), returns its text. */
async function ready(page) {
  return waitFor(page, () => {
    const items = [...document.querySelectorAll(".statusbar-item")].map((e) => e.textContent.trim());
    const text = items.find((t) => t.startsWith("Cove")) ?? "";
    return text && !/starting|loading/.test(text) ? text : "";
  }, config.timeoutMs);
}

/** Runs a command from the palette by its title, as a person would. */
async function palette(page, title) {
  await page.keyboard.press("F1");
  await page.waitForSelector(".quick-input-widget input", { visible: true });
  await page.keyboard.type(title);
  await waitFor(page, (t) => document.querySelector(".quick-input-list .monaco-list-row.focused")?.textContent.includes(t),
    10000, title);
  await page.keyboard.press("Enter");
}

/** Sets a string setting in the Settings editor (its search box, then the setting's field). */
async function setSetting(page, key, value) {
  await chord(page, "Control", ",");
  await page.waitForSelector(".settings-editor .settings-header .monaco-editor", { visible: true });
  await chord(page, "Control", "a");
  await page.keyboard.type(key);
  const field = `.settings-editor .setting-item-contents[data-key="${key}"] .setting-item-control input`;
  await page.waitForSelector(field, { visible: true });
  await page.click(field);
  await chord(page, "Control", "a");
  await page.keyboard.type(value);
  await page.keyboard.press("Enter");
}

/** Waits for the Cove status bar item to match `pattern` (a RegExp source); its text, or undefined. */
async function statusMatching(page, pattern, timeoutMs) {
  return waitFor(page, (p) => {
    const text = [...document.querySelectorAll(".statusbar-item")].map((e) => e.textContent.trim())
      .find((t) => t.startsWith("Cove")) ?? "";
    return new RegExp(p).test(text) ? text : "";
  }, timeoutMs, pattern);
}

/** The test: a disabled language, ghost text, Tab, and a cove.path that points at nothing. */
async function check(page, result) {
  await openFile(page, config.file);
  result.statusReady = await ready(page);
  await page.evaluate(() => {
    const item = [...document.querySelectorAll(".statusbar-item")].find((e) => e.textContent.trim().startsWith("Cove"));
    (item?.querySelector("a") ?? item)?.click();
  });
  const menu = () => [...document.querySelectorAll(".quick-input-list .monaco-list-row")].map((row) => row.textContent.trim());
  await waitFor(page, () => [...document.querySelectorAll(".quick-input-list .monaco-list-row")]
    .some((row) => row.textContent.includes("Reload model")), 5000);
  result.menu = await page.evaluate(menu);
  await page.keyboard.press("Escape");
  await page.click(".editor-instance .monaco-editor .view-lines");
  await palette(page, "Cove: Enable or disable completions for this language");
  result.statusDisabled = await statusMatching(page, "off for python", 10000) ?? "";
  await page.click(".editor-instance .monaco-editor .view-lines");
  await newLineAtEnd(page);
  await page.keyboard.type(config.typed, { delay: 60 });
  await sleep(config.quietMs);
  result.ghostWhileDisabled = await page.evaluate(ghostText);
  await page.screenshot({ path: path.join(config.out, "disabled.png") });

  // The same text at the same place with Python enabled again.
  await page.keyboard.down("Shift");
  await page.keyboard.press("Home");
  await page.keyboard.up("Shift");
  await page.keyboard.press("Backspace");
  await palette(page, "Cove: Enable or disable completions for this language");
  result.statusEnabled = await statusMatching(page, "^Cove(?!: off)", 10000) ?? "";
  await page.keyboard.type(config.typed, { delay: 60 });
  const typedAt = Date.now();
  result.ghost = await waitFor(page, ghostText, config.timeoutMs);
  result.ghostAfterMs = Date.now() - typedAt;
  await sleep(500); // settled: what Tab will take
  result.ghost = await page.evaluate(ghostText);
  result.suggestWidgetOpen = await page.evaluate(() => !!document.querySelector(".suggest-widget.visible"));
  await page.screenshot({ path: path.join(config.out, "ghost-text.png") });

  await page.keyboard.press("Tab");
  result.ghostAfterTab = await waitFor(page, () => (document.querySelector("span.ghost-text-decoration") ? "" : "gone"), 5000)
    ? null : await page.evaluate(ghostText);
  await chord(page, "Control", "s");
  await waitFor(page, () => !document.querySelector(".tab.active.dirty"), 5000);
  await sleep(500); // the accepted command reaches the server

  // Accept a word of the same completion on a new line (VS Code's own command, Ctrl+Right).
  await page.keyboard.press("End");
  await page.keyboard.press("Enter");
  await page.keyboard.type(config.typed, { delay: 60 });
  result.wordGhost = await waitFor(page, ghostText, config.timeoutMs) ?? null;
  await sleep(500);
  result.wordGhost = await page.evaluate(ghostText);
  await chord(page, "Control", "ArrowRight");
  await sleep(300);
  await page.keyboard.press("Escape");
  await chord(page, "Control", "s");
  await waitFor(page, () => !document.querySelector(".tab.active.dirty"), 5000);
  await sleep(500);

  // A server setting reaches the running server (the test reads cove.status from the log).
  await setSetting(page, "cove.maxTokens", String(config.maxTokens));
  await sleep(1500);
  await palette(page, "Cove: Show server status");
  await sleep(1000);

  await setSetting(page, "cove.path", "/nonexistent/cove");
  result.notification = await waitFor(page, () => {
    const text = [...document.querySelectorAll(".notification-toast")].map((e) => e.textContent).join("\n");
    return text.includes("cove.path") ? text : "";
  }, 15000) ?? "";
  result.status = await page.evaluate(statusText);
  await page.screenshot({ path: path.join(config.out, "notification.png") });
}

/** The benchmark: types `replay` one keystroke at a time and times each keystroke to the
 * ghost text it brings (in the page's clock: keydown to the DOM change that shows it). */
async function bench(page, result) {
  await openFile(page, config.file);
  result.statusReady = await ready(page);
  await palette(page, "Cove: Show server status"); // the requests before the replay
  await sleep(1000);
  await page.click(".editor-instance .monaco-editor .view-lines");
  await chord(page, "Control", "End");
  await page.evaluate(() => {
    // When ghost text is drawn anew (other text, or its line changed): the first DOM change
    // that shows it. Later changes elsewhere (the status bar) leave the time alone.
    const c = (window.__cove = { keydown: 0, ghostAt: 0, ghost: null, line: null });
    document.addEventListener("keydown", () => { c.keydown = performance.now(); }, true);
    new MutationObserver(() => {
      const spans = [...document.querySelectorAll(".monaco-editor span.ghost-text-decoration")];
      const ghost = spans.length ? spans.map((e) => e.textContent).join("").replace(/\u00a0/g, " ") : null;
      const line = spans.length ? spans[0].closest(".view-line")?.textContent ?? null : null;
      if (ghost !== null && (ghost !== c.ghost || line !== c.line)) {
        c.ghostAt = performance.now();
      }
      c.ghost = ghost;
      c.line = line;
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  result.keystrokes = [];
  for (const key of config.replay) {
    const before = await page.evaluate(() => window.__cove.ghost);
    await page.keyboard.type(key);
    const shown = await waitFor(page, () => window.__cove.ghost !== null && window.__cove.ghostAt > window.__cove.keydown,
      config.timeoutMs);
    const timing = await page.evaluate(() => ({ ...window.__cove }));
    result.keystrokes.push({ key, typedAlong: before !== null && before.startsWith(key),
      ms: shown ? timing.ghostAt - timing.keydown : null, ghost: shown ? timing.ghost : null });
    await sleep(config.quietMs);
  }
  await page.screenshot({ path: path.join(config.out, "bench.png") });
  await palette(page, "Cove: Show server status");
  await sleep(1500); // the log line reaches the disk
}

const result = { scenario };
const browser = await puppeteer.launch({
  executablePath: config.chromium,
  headless: true,
  args: [...FLAGS, `--user-data-dir=${path.join(config.out, "chromium")}`],
  defaultViewport: { width: 1280, height: 720 },
});
let failed = false;
const page = await browser.newPage();
try {
  await page.goto(config.url, { waitUntil: "domcontentloaded" });
  await page.waitForSelector(".monaco-workbench", { timeout: 60000 });
  await (scenario === "bench" ? bench : check)(page, result);
} catch (error) {
  failed = true;
  result.error = String(error?.stack ?? error);
  result.notifications = await page.evaluate(notifications).catch(() => "");
  await page.screenshot({ path: path.join(config.out, "failure.png") }).catch(() => {});
} finally {
  await browser.close();
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(failed ? 1 : 0);
