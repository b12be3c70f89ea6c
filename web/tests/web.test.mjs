// The web build in headless Chromium, driven by playwright-core with Debian's chromium (never a
// downloaded browser). The site must already be built and served: GAZE_URL names it.
//
//   bash web/build.sh && python3 -m http.server -d web/dist 8080 --bind 127.0.0.1 &
//   (cd web/tests && npm ci && GAZE_URL=http://127.0.0.1:8080/ npm test)
//
// The app reports what it drew in <html data-gaze-status="{json}">: the backend, where attention
// ran, the heatmap's rectangle and the colour every cell of head 0 must have (the CPU colour map
// of the computed weight). These tests check the *pixels* against that report: a blank canvas can
// still say "ready" (TESTING.md: SwiftShader without its flags crashes the GPU process silently).
//
// GAZE_WEB_REPORT, when set, names a JSON file to write the measured start-up figures to.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { PNG } from "pngjs";

const URL_BASE = process.env.GAZE_URL ?? "http://127.0.0.1:8080/";
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

// Without the background-networking flags Chromium keeps dialling Google from a closed network.
const BASE_FLAGS = [
  "--no-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync",
];
// WebGPU on SwiftShader: exactly this set (TESTING.md); with fewer of the last five, compute works
// but drawing to a canvas crashes the GPU process and the canvas stays blank.
const WEBGPU_FLAGS = [
  "--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-vulkan=swiftshader",
  "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
];
// Without --enable-unsafe-webgpu the browser has WebGL2 only: the fallback path.
const WEBGL_FLAGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader"];

const report = {};
let servers = [];

async function launch(flags) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...BASE_FLAGS, ...flags],
  });
  servers.push(browser);
  return browser;
}

after(async () => {
  for (const browser of servers) await browser.close();
  if (process.env.GAZE_WEB_REPORT) {
    writeFileSync(process.env.GAZE_WEB_REPORT, JSON.stringify(report, null, 2));
  }
  console.log("web report:", JSON.stringify(report));
});

// Records whether the loading indicator was up before the first frame.
function recordFirstFrame() {
  document.addEventListener("DOMContentLoaded", () => {
    window.__gazeLoaderSeen = document.getElementById("gaze-loading")?.textContent ?? null;
  });
}

async function status(page) {
  const text = await page.evaluate(() => document.documentElement.dataset.gazeStatus ?? null);
  return text ? JSON.parse(text) : null;
}

// Waits until the app has drawn and has the numbers (so the report carries the cell colours).
async function waitForNumbers(page, predicate = () => true, timeout = 90_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const error = await page.evaluate(() => document.documentElement.dataset.gazeError ?? null);
    assert.equal(error, null, `the app failed to start: ${error}`);
    const s = await status(page);
    if (s && s.ready && s.cells.length > 0 && s.heatmap && predicate(s)) return s;
    if (Date.now() > deadline) {
      throw new Error(`no frame with numbers after ${timeout} ms; last status: ${JSON.stringify(s)}`);
    }
    await page.waitForTimeout(200);
  }
}

/** Waits for a status that satisfies `predicate`, on any step (steps 1 and 2 draw no map). */
async function waitForStatus(page, predicate, timeout = 90_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const error = await page.evaluate(() => document.documentElement.dataset.gazeError ?? null);
    assert.equal(error, null, `the app failed: ${error}`);
    const s = await status(page);
    if (s && s.ready && predicate(s)) return s;
    if (Date.now() > deadline) {
      throw new Error(`status never matched after ${timeout} ms; last: ${JSON.stringify(s)}`);
    }
    await page.waitForTimeout(200);
  }
}

function pixel(png, x, y) {
  const i = (png.width * Math.round(y) + Math.round(x)) * 4;
  return [png.data[i], png.data[i + 1], png.data[i + 2]];
}

// Every cell of head 0's map, sampled inside the cell away from its printed value and its gap,
// must have the colour the report says its weight maps to.
//
// The screenshot and the status are taken separately, and SwiftShader draws only a few frames a
// second, so the map may move between them (panels settling their widths, a 2x surface arriving a
// frame late). A screenshot only counts when the map's rectangle is the same in the status read
// just before it and just after it; up to five such tries, and the last one's errors are reported.
async function checkHeatmapPixels(page, first, label) {
  let last = null;
  for (let attempt = 0; attempt < 5; attempt++) {
    await page.waitForTimeout(500);
    const before = (await status(page)) ?? first;
    const shot = PNG.sync.read(await page.screenshot());
    const s = (await status(page)) ?? before;
    if (JSON.stringify(before.heatmap) !== JSON.stringify(s.heatmap)) {
      last = { ok: false, message: `${label}: the map moved during the screenshot` };
      continue;
    }
    last = compareHeatmapPixels(page, shot, s, label);
    if (last.ok) return last;
  }
  assert.ok(last.ok, last.message);
  return last;
}

function compareHeatmapPixels(page, shot, s, label) {
  const dpr = shot.width / page.viewportSize().width;
  const { x, y, width, height, n, rows } = s.heatmap;
  assert.equal(s.cells.length, n * rows, `${label}: one colour per cell`);
  let worst = 0;
  let worstAt = null;
  const seen = new Set();
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < n; j++) {
      const px = (x + (j + 0.2) * (width / n)) * dpr;
      const py = (y + (i + 0.2) * (height / rows)) * dpr;
      const got = pixel(shot, px, py);
      const want = s.cells[i * n + j];
      const diff = Math.max(...got.map((c, k) => Math.abs(c - want[k])));
      seen.add(got.join(","));
      if (diff > worst) {
        worst = diff;
        worstAt = { i, j, got, want };
      }
    }
  }
  if (worst > 12) {
    return { ok: false, worst, message: `${label}: a cell's colour is off by ${worst}: ${JSON.stringify(worstAt)}` };
  }
  if (seen.size < Math.min(3, n * rows)) {
    return { ok: false, worst, message: `${label}: the map is blank (${seen.size} colours)` };
  }
  return { ok: true, worst, colours: seen.size };
}

// Step 4's overview map: every cell, sampled at its centre, must have the colour the report says
// its value maps to (the CPU mirror of the shader's log scale).
async function checkOverviewPixels(page, first, label) {
  await page.waitForTimeout(500);
  const s = (await status(page)) ?? first;
  const c = s.context;
  const shot = PNG.sync.read(await page.screenshot());
  const dpr = shot.width / page.viewportSize().width;
  const { x, y, width, height } = c.overview;
  const bins = c.bins;
  assert.equal(c.overview_cells.length, bins * bins, `${label}: one colour per overview cell`);
  let worst = 0;
  let worstAt = null;
  const seen = new Set();
  for (let a = 0; a < bins; a++) {
    for (let b = 0; b < bins; b++) {
      const got = pixel(shot, (x + (b + 0.5) * (width / bins)) * dpr, (y + (a + 0.5) * (height / bins)) * dpr);
      const want = c.overview_cells[a * bins + b];
      const diff = Math.max(...got.map((v, k) => Math.abs(v - want[k])));
      seen.add(got.join(","));
      if (diff > worst) {
        worst = diff;
        worstAt = { a, b, got, want };
      }
    }
  }
  assert.ok(worst <= 12, `${label}: an overview cell's colour is off by ${worst}: ${JSON.stringify(worstAt)}`);
  assert.ok(seen.size >= 3, `${label}: the overview is not blank (${seen.size} colours)`);
  return worst;
}

before(() => {
  assert.ok(URL_BASE.startsWith("http://127.0.0.1"), "serve the site on 127.0.0.1");
});

test("webgpu: the lesson draws through WebGPU and the heatmap's pixels are the computed weights", async () => {
  const browser = await launch(WEBGPU_FLAGS);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.addInitScript(recordFirstFrame);
  const bytes = { total: 0, files: {} };
  page.on("response", async (response) => {
    try {
      const body = await response.body();
      bytes.total += body.length;
      bytes.files[new URL(response.url()).pathname] = body.length;
    } catch {
      // Redirects and aborted requests carry no body.
    }
  });
  await page.goto(URL_BASE);
  const s = await waitForNumbers(page);
  const loading = await page.evaluate(() => window.__gazeLoaderSeen);
  assert.match(loading ?? "", /Loading Gaze/, "a loading indicator shows until the first frame");
  // performance.now() in the page when the first frame was presented, from navigation start.
  const firstFrameMs = s.first_frame_ms;
  assert.ok(firstFrameMs > 0, "the app reports its first frame's time");
  assert.equal(s.backend, "webgpu", "WebGPU is chosen where the browser has it");
  assert.equal(s.compute, "gpu", "attention runs on the WGSL kernels");
  assert.equal(s.notice, null);
  assert.equal(
    await page.evaluate(() => document.getElementById("gaze-loading")),
    null,
    "the loading indicator is gone once a frame is drawn",
  );
  assert.deepEqual(s.tokens, ["the", "best", "database", "is"]);
  const pixels = await checkHeatmapPixels(page, s, "webgpu");
  // The arcs animate with no input at all: frames keep coming.
  const before = (await status(page)).frames;
  await page.waitForTimeout(2000);
  const after = (await status(page)).frames;
  // (SwiftShader draws every pixel on the shared CPU cores: a few frames a second here.)
  assert.ok(after >= before + 3, `the page keeps drawing: ${before} -> ${after} frames in 2 s`);
  report.webgpu_idle_fps = Math.round(((after - before) / 2) * 10) / 10;

  // The canvas follows the window: backing store = CSS size × device pixel ratio.
  await page.setViewportSize({ width: 1000, height: 700 });
  await page.waitForFunction(() => {
    const c = document.getElementById("gaze-canvas");
    return c.width === Math.round(1000 * devicePixelRatio) && c.height === Math.round(700 * devicePixelRatio);
  }, null, { timeout: 20_000 });
  const resized = await waitForNumbers(page, (t) => t.heatmap.x + t.heatmap.width <= 1000);
  await checkHeatmapPixels(page, resized, "webgpu after a resize");

  // The estimated word features arrive after the first frame, without a reload.
  await page.waitForFunction(() => performance.getEntriesByType("resource")
    .some((r) => r.name.endsWith("estimated_embeddings.txt") && r.responseEnd > 0), null, { timeout: 30_000 });
  await page.waitForTimeout(500);

  report.webgpu = {
    first_frame_ms: Math.round(firstFrameMs),
    numbers_ms: Math.round(s.numbers_ms),
    first_load_bytes: bytes.total,
    files: bytes.files,
    worst_cell_error: pixels.worst,
  };
  await page.close();
});

test("webgpu: device pixel ratio 2 gets a sharp canvas", async () => {
  // A real ratio of 2: Playwright's emulated one leaves the canvas's device-pixel-content-box (what
  // winit measures) at 1×, which no real screen does.
  const browser = await launch([...WEBGPU_FLAGS, "--force-device-scale-factor=2"]);
  const page = await browser.newPage({ viewport: { width: 900, height: 650 }, deviceScaleFactor: 2 });
  await page.goto(URL_BASE);
  const s = await waitForNumbers(page);
  assert.equal(s.device_pixel_ratio, 2);
  assert.deepEqual(s.surface, [1800, 1300], "the surface is drawn at device pixels");
  const size = await page.evaluate(() => {
    const c = document.getElementById("gaze-canvas");
    return [c.width, c.height];
  });
  assert.deepEqual(size, [1800, 1300]);
  await checkHeatmapPixels(page, s, "webgpu at 2×");
  await page.close();
});

test("webgpu: a link's fragment opens that scene, and the address bar follows the scene", async () => {
  const browser = servers[0] ?? (await launch(WEBGPU_FLAGS));
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const fragment = "step=2&sentence=the%20best%20language%20is&focus=1&heads=2&positions=rope"
    + "&causal=1&residual=0&prefer=sqlite&strength=0.75"
    + "&corpus=the%20best%20database%20is:mongodb*5,duckdb*10";
  await page.goto(`${URL_BASE}#${fragment}`);
  // The link opens step 2 (no maps there); key 3 moves to attention, as in a lecture.
  await page.waitForFunction(() => {
    const t = document.documentElement.dataset.gazeStatus;
    return t && JSON.parse(t).ready && JSON.parse(t).step === 2;
  }, null, { timeout: 60_000 });
  assert.equal((await status(page)).heatmap, null, "step 2 draws no map");
  await page.locator("#gaze-canvas").focus();
  await page.keyboard.press("3");
  const s = await waitForNumbers(page, (t) => t.step === 3);
  assert.match(await page.evaluate(() => location.hash), /step=3/);
  assert.equal(s.attention.sentence, "the best language is");
  assert.equal(s.attention.focus, 1);
  assert.equal(s.attention.heads, 2);
  assert.equal(s.attention.positions, "rope");
  assert.equal(s.attention.causal, true);
  assert.equal(s.rlhf.preferred, "sqlite");
  assert.equal(s.rlhf.strength, 0.75);
  assert.deepEqual(s.corpus.rows.map((r) => [r.ending, r.count]), [["mongodb", 5], ["duckdb", 10]]);
  assert.deepEqual(s.tokens, ["the", "best", "language", "is"]);
  // The causal mask, in pixels: every cell above the diagonal is weight 0's colour.
  const { n } = s.heatmap;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      assert.deepEqual(s.cells[i * n + j], s.cells[1], "masked cells have weight 0");
    }
  }
  await checkHeatmapPixels(page, s, "scene from the link");
  const hash = await page.evaluate(() => location.hash);
  assert.match(hash, /causal=1/);
  assert.match(hash, /heads=2/);
  assert.match(hash, /sentence=the%20best%20language%20is/);
  // An edit moves the address bar: click the map's first row (the token "the") to focus it.
  const { x, y, width, height, rows } = s.heatmap;
  await page.mouse.click(x + width / (2 * n), y + height / (2 * rows));
  await page.waitForFunction(() => /(^#|&)focus=0(&|$)/.test(location.hash), null, { timeout: 20_000 });
  const focused = await waitForNumbers(page, (t) => t.attention.focus === 0);
  assert.equal(focused.attention.focus, 0);
  await page.close();
});

test("webgpu: T trains step 1 and fine-tunes step 2 in the browser's compute shaders, landing on the closed forms", async () => {
  const browser = servers[0] ?? (await launch(WEBGPU_FLAGS));
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${URL_BASE}#step=1`);
  await page.waitForFunction(() => {
    const t = document.documentElement.dataset.gazeStatus;
    return t && JSON.parse(t).ready && JSON.parse(t).step === 1;
  }, null, { timeout: 60_000 });
  await page.locator("#gaze-canvas").focus();
  const started = Date.now();
  await page.keyboard.press("t");
  const fit = (await waitForStatus(page, (t) => t.fit && t.fit.steps === t.fit.total_steps)).fit;
  const fitMs = Date.now() - started;
  assert.equal(fit.on_gpu, true, "the fit runs in WebGPU compute");
  assert.ok(Math.abs(fit.first_loss - Math.log(4)) < 1e-5, `starts from uniform odds: ${fit.first_loss}`);
  assert.ok(fit.last_loss < fit.first_loss, "the loss falls");
  assert.ok(fit.kl_to_counts[0] < 1e-3, `lands on the counts: KL ${fit.kl_to_counts[0]}`);
  await page.keyboard.press("2");
  await waitForStatus(page, (t) => t.step === 2);
  await page.keyboard.press("t");
  const tune = (await waitForStatus(page, (t) => t.fine_tune && t.fine_tune.kl_to_closed_form !== null)).fine_tune;
  assert.equal(tune.on_gpu, true);
  assert.ok(tune.kl_to_closed_form < 1e-4, `lands on the closed form: KL ${tune.kl_to_closed_form}`);
  report.webgpu_training = { fit_ms: fitMs, fit_steps: fit.steps, kl_to_counts: fit.kl_to_counts[0], fine_tune_kl: tune.kl_to_closed_form };
  await page.close();
});

test("webgpu: presenter keys: P projector theme, C cividis, H hides the controls, S downloads a PNG of the view", async () => {
  const browser = servers[0] ?? (await launch(WEBGPU_FLAGS));
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  await page.goto(URL_BASE);
  const first = await waitForNumbers(page);
  assert.equal(first.theme, "dark");
  await page.locator("#gaze-canvas").focus();
  await page.keyboard.press("p");
  await page.keyboard.press("c");
  const projected = await waitForNumbers(page, (t) => t.theme === "projector" && t.colormap === "cividis");
  // The cells now carry cividis's colours, and the pixels follow.
  await checkHeatmapPixels(page, projected, "projector theme, cividis");
  // The projector theme is light: a corner of the central panel is white.
  const shot = PNG.sync.read(await page.screenshot());
  assert.deepEqual(pixel(shot, shot.width * 0.45, shot.height * 0.97), [255, 255, 255]);
  await page.keyboard.press("h");
  await waitForStatus(page, (t) => t.controls === false);
  const [download] = await Promise.all([
    page.waitForEvent("download", { timeout: 60_000 }),
    page.keyboard.press("s"),
  ]);
  assert.equal(download.suggestedFilename(), "gaze-step3.png");
  const png = PNG.sync.read(readFileSync(await download.path()));
  const canvas = await page.evaluate(() => {
    const c = document.getElementById("gaze-canvas");
    return [c.width, c.height];
  });
  assert.deepEqual([png.width, png.height], canvas, "the export is the canvas's size at 1x");
  // The export is the view: its heatmap cells have the colours the report says.
  const s = await waitForStatus(page, (t) => /downloaded/.test(t.export ?? ""));
  const { x, y, width, height, n, rows } = s.heatmap;
  const dpr = png.width / page.viewportSize().width;
  let worst = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < n; j++) {
      const got = pixel(png, (x + (j + 0.2) * (width / n)) * dpr, (y + (i + 0.2) * (height / rows)) * dpr);
      const want = s.cells[i * n + j];
      worst = Math.max(worst, ...got.map((c, k) => Math.abs(c - want[k])));
    }
  }
  assert.ok(worst <= 12, `the exported map's cells are off by ${worst}`);
  report.webgpu_export = { width: png.width, height: png.height, worst_cell_error: worst };
  await page.close();
});

test("webgpu: prefers-reduced-motion turns the animation off; dropped .md files join the knowledge base", async () => {
  const browser = servers[0] ?? (await launch(WEBGPU_FLAGS));
  const context = await browser.newContext({ reducedMotion: "reduce", viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(URL_BASE);
  const s = await waitForNumbers(page);
  assert.equal(s.reduced_motion, true);
  assert.equal(s.documents, 0);
  await page.evaluate(() => {
    const data = new DataTransfer();
    data.items.add(new File(["Refunds within 30 days for damaged items."], "policy.md", { type: "text/markdown" }));
    data.items.add(new File([new Uint8Array([1, 2, 3])], "photo.png", { type: "image/png" }));
    const target = document.getElementById("gaze-canvas");
    target.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
    target.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
  });
  const after = await waitForNumbers(page, (t) => t.documents === 1 && t.message !== null);
  assert.match(after.message, /photo\.png was not added/);
  await context.close();
});

test("webgpu: step 4 reads the prediction off attention in compute shaders; the overview's pixels are its values", async () => {
  const browser = servers[0] ?? (await launch(WEBGPU_FLAGS));
  // Tall enough that the overview map sits below the prediction and the arcs, on screen.
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  await page.goto(`${URL_BASE}#step=4`);
  const s = await waitForStatus(page, (t) => t.step === 4 && t.context && t.context.has_numbers && t.context.overview);
  assert.equal(s.context.on_gpu, true, "step 4 runs in WebGPU compute");
  assert.equal(s.context.prediction, "neutral", "the seed's examples classify 'it was okay' as neutral");
  assert.equal(s.context.tokens, 15);
  const worst = await checkOverviewPixels(page, s, "webgpu step 4");
  report.webgpu_step4 = { edit_to_numbers_ms: Math.round(s.context.latency_ms), worst_overview_cell_error: worst };
  await page.close();
});

test("webgpu: a lost GPU device is reconnected and the scene's numbers come back, drawn right", async () => {
  const browser = await launch(WEBGPU_FLAGS);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // device.destroy() at frame 30 (`?fault=`, app::faults), on a scene with the causal mask on.
  const url = new URL("?fault=device-lost@30#step=3&causal=1", URL_BASE);
  await page.goto(url.href);
  const recovered = await waitForStatus(page, (t) => /connected to it again/.test(t.message ?? ""));
  assert.equal(recovered.compute, "gpu", "the new device computes attention again");
  const s = await waitForNumbers(page);
  assert.equal(s.attention.causal, true, "the scene survived the loss");
  const pixels = await checkHeatmapPixels(page, s, "after the device was lost");
  const later = await waitForStatus(page, (t) => t.frames > s.frames + 10);
  assert.ok(later.frames > s.frames, "frames keep coming");
  assert.deepEqual(errors, [], "no uncaught error on the page");
  report.device_lost = { recovered_at_frame: recovered.frames, worst_cell_error: pixels.worst };
});

test("webgpu: a panic saves the scene, documents included, and the next visit offers it back", async () => {
  const browser = await launch(WEBGPU_FLAGS);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  // A panic at frame 60 (`?fault=`), after a document was dropped: links never carry documents.
  await page.goto(new URL("?fault=panic@60#step=3&causal=1", URL_BASE).href);
  await waitForNumbers(page);
  await page.evaluate(() => {
    const data = new DataTransfer();
    data.items.add(new File(["Refunds within 30 days for damaged items."], "refunds.md", { type: "text/markdown" }));
    const target = document.getElementById("gaze-canvas");
    target.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
    target.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
  });
  await waitForStatus(page, (t) => t.documents === 1);
  // The page says what happened and where the scene is.
  const deadline = Date.now() + 90_000;
  let failure = null;
  while (failure === null && Date.now() < deadline) {
    failure = await page.evaluate(() => document.documentElement.dataset.gazeError ?? null);
    if (failure === null) await page.waitForTimeout(200);
  }
  assert.match(failure ?? "", /Gaze stopped: .*fault injected at frame 60/s);
  assert.match(failure, /reload the page and Gaze offers it back/);
  const shown = await page.evaluate(() => document.getElementById("gaze-stopped")?.textContent ?? "");
  assert.match(shown, /Gaze stopped/, "the page shows it, over the stopped canvas");
  const saved = await page.evaluate(() => localStorage.getItem("gaze.recovered-scene"));
  assert.match(saved ?? "", /refunds\.md/, "the saved scene holds the dropped document");
  // The next visit (no fault) offers it back in the banner.
  const again = await context.newPage();
  await again.goto(URL_BASE);
  const offered = await waitForStatus(again, (t) => t.recovery !== null);
  assert.match(offered.recovery, /on step 3/);
  report.panic_recovery = { offered: offered.recovery };
  await context.close();
});

test("webgl2: without WebGPU the lesson still draws, computes on the CPU and says so", async () => {
  const browser = await launch(WEBGL_FLAGS);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.addInitScript(recordFirstFrame);
  await page.goto(URL_BASE);
  const s = await waitForNumbers(page);
  assert.equal(s.backend, "webgl2", "the WebGL2 fallback is chosen");
  assert.equal(s.compute, "cpu", "attention falls back to the CPU reference");
  assert.match(s.notice ?? "", /no WebGPU/, "a visible notice says so");
  const pixels = await checkHeatmapPixels(page, s, "webgl2");
  // The notice is drawn across the top of the canvas, in its amber (255, 210, 120).
  const shot = PNG.sync.read(await page.screenshot({ clip: { x: 0, y: 0, width: 1280, height: 30 } }));
  let amber = 0;
  for (let y = 0; y < shot.height; y++) {
    for (let x = 0; x < shot.width; x++) {
      const [r, g, b] = pixel(shot, x, y);
      if (r > 215 && Math.abs(g - 210) < 40 && Math.abs(b - 120) < 50) amber++;
    }
  }
  assert.ok(amber > 200, `the notice's text is drawn at the top (${amber} amber pixels)`);
  // Train runs on the CPU twin here, with the same result.
  await page.locator("#gaze-canvas").focus();
  await page.keyboard.press("1");
  await waitForStatus(page, (t) => t.step === 1);
  await page.keyboard.press("t");
  const fit = (await waitForStatus(page, (t) => t.fit && t.fit.steps === t.fit.total_steps)).fit;
  assert.equal(fit.on_gpu, false, "no compute in WebGL2: the CPU twin trains");
  assert.ok(fit.kl_to_counts[0] < 1e-3, `lands on the counts: KL ${fit.kl_to_counts[0]}`);
  // Step 4 on the CPU reference: the same prediction, the overview uploaded and drawn.
  await page.setViewportSize({ width: 1280, height: 1100 });
  await page.keyboard.press("4");
  const four = await waitForStatus(page, (t) => t.step === 4 && t.context && t.context.has_numbers && t.context.overview);
  assert.equal(four.context.on_gpu, false);
  assert.equal(four.context.prediction, "neutral");
  await checkOverviewPixels(page, four, "webgl2 step 4");
  report.webgl2 = {
    first_frame_ms: Math.round(s.first_frame_ms),
    numbers_ms: Math.round(s.numbers_ms),
    worst_cell_error: pixels.worst,
  };
  await page.close();
});

test("neither WebGPU nor WebGL2: the page says what the browser lacks instead of staying blank", async () => {
  const browser = await launch(["--disable-3d-apis"]);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(URL_BASE);
  await page.waitForFunction(() => document.documentElement.dataset.gazeError, null, { timeout: 60_000 });
  const text = await page.evaluate(() => document.getElementById("gaze-loading")?.textContent ?? "");
  assert.match(text, /Gaze could not start: this browser offers neither WebGPU nor WebGL2/);
  assert.match(text, /Chrome and Edge 113\+/, "and says which browsers have what it needs");
  assert.ok(await page.locator("#gaze-loading").isVisible(), "the message is on screen");
  await page.close();
});
