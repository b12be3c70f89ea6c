//! The web page around the app (wasm32 only): the same window code in a `<canvas>`, plus the
//! browser's conventions.
//!
//! - The scene lives in the URL fragment ([`crate::link`]): read at start, rewritten (with
//!   `history.replaceState`, so Back is not flooded) whenever the scene changes — a copied link
//!   reopens the same view.
//! - A loading indicator (`#gaze-loading` in `web/index.html`) stays until the first frame is
//!   presented; if nothing can draw, it turns into a message saying what the browser lacks.
//! - `.md` / `.txt` files dropped on the page join the knowledge base (`context.documents`).
//! - `prefers-reduced-motion: reduce` turns the arcs' easing and particles off.
//! - The estimated word features (1.2 MB of text) are fetched after the first frame, never
//!   before it; until they arrive, words outside the curated 96 count as unknown.
//! - `<html data-gaze-status="…">` carries a JSON report of what is on screen (backend, where
//!   attention ran, the heatmap's rectangle and the colour each cell must have): the browser
//!   tests check the drawn pixels against it.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use winit::event_loop::EventLoopProxy;

use crate::app::browser::{document, set_data, show_failure};
use crate::app::window::{spawn, AppEvent, PageHooks, WindowOptions, WindowState};
use crate::scene::Scene;

/// Where the page keeps the estimated embeddings (copied there by `web/build.sh`).
const ESTIMATED_URL: &str = "assets/estimated_embeddings.txt";

/// Starts Gaze in the page: called by `main` in the wasm build.
pub fn start() {
    // A bug stops the page: say so on it. (`app::recovery` chains its own hook before this one,
    // keeping the scene for the next visit.)
    std::panic::set_hook(Box::new(|info| {
        let message = format!(
            "Gaze stopped: {info}. Your scene was kept: reload the page and Gaze offers it back."
        );
        web_sys::console::error_1(&message.clone().into());
        show_stopped(&message);
    }));
    let (scene, message) = scene_from_location();
    let (fault, fault_error) = fault_from_location();
    let options = WindowOptions {
        reduced_motion: prefers_reduced_motion(),
        message: message.or(fault_error),
        fault,
        ..WindowOptions::default()
    };
    match spawn(scene, options, Box::new(Page::default())) {
        Ok(proxy) => listen_for_drops(proxy),
        Err(error) => show_failure(&error.to_string()),
    }
}

/// Puts `message` over the page once Gaze has stopped mid-lesson (the loading indicator that
/// [`show_failure`] uses is gone by then).
fn show_stopped(message: &str) {
    set_data("gazeError", message);
    let Some(document) = document() else {
        return;
    };
    let (Ok(note), Some(body)) = (document.create_element("div"), document.body()) else {
        return;
    };
    note.set_id("gaze-stopped");
    let _ = note.set_attribute(
        "style",
        "position:fixed;top:0;left:0;right:0;padding:1em;font:18px sans-serif;\
         background:#fff3cd;color:#222;z-index:10",
    );
    note.set_text_content(Some(message));
    let _ = body.append_child(&note);
}

/// A fault to inject for the page's tests, `?fault=KIND@FRAME` (see `app::faults`), or why the
/// parameter could not be read.
fn fault_from_location() -> (Option<crate::app::faults::Fault>, Option<String>) {
    let search = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    let Some(value) = search
        .trim_start_matches('?')
        .split('&')
        .find_map(|pair| pair.strip_prefix("fault="))
    else {
        return (None, None);
    };
    match value.parse() {
        Ok(fault) => (Some(fault), None),
        Err(error) => (None, Some(error.to_string())),
    }
}

/// The scene in the address bar's fragment, or the default one with a message saying why the
/// link could not be read.
fn scene_from_location() -> (Scene, Option<String>) {
    let hash = web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default();
    if hash.trim_start_matches('#').is_empty() {
        return (Scene::default(), None);
    }
    match Scene::from_fragment(&hash) {
        Ok((scene, unknown)) if unknown.is_empty() => (scene, None),
        Ok((scene, unknown)) => {
            let message = format!(
                "this link has settings this version does not know; they were left out: {}",
                unknown.join(", ")
            );
            (scene, Some(message))
        }
        Err(error) => (
            Scene::default(),
            Some(format!(
                "the link's scene could not be read ({error}); showing the lesson's default"
            )),
        ),
    }
}

fn prefers_reduced_motion() -> bool {
    web_sys::window()
        .and_then(|w| {
            w.match_media("(prefers-reduced-motion: reduce)")
                .ok()
                .flatten()
        })
        .is_some_and(|query| query.matches())
}

/// Dropped files are read by the browser and handed to the app as [`AppEvent::Dropped`].
fn listen_for_drops(proxy: EventLoopProxy<AppEvent>) {
    let Some(document) = document() else {
        return;
    };
    // Without preventing `dragover`'s default, the browser opens the file instead.
    let over = Closure::<dyn FnMut(web_sys::DragEvent)>::new(|event: web_sys::DragEvent| {
        event.prevent_default();
    });
    let drop = Closure::<dyn FnMut(web_sys::DragEvent)>::new(move |event: web_sys::DragEvent| {
        event.prevent_default();
        let Some(files) = event.data_transfer().and_then(|d| d.files()) else {
            return;
        };
        for index in 0..files.length() {
            let Some(file) = files.item(index) else {
                continue;
            };
            let proxy = proxy.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let name = file.name();
                let bytes = match wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await {
                    Ok(buffer) => js_sys::Uint8Array::new(&buffer).to_vec(),
                    Err(_) => Vec::new(),
                };
                let _ = proxy.send_event(AppEvent::Dropped { name, bytes });
            });
        }
    });
    let _ = document.add_event_listener_with_callback("dragover", over.as_ref().unchecked_ref());
    let _ = document.add_event_listener_with_callback("drop", drop.as_ref().unchecked_ref());
    // The listeners live as long as the page.
    over.forget();
    drop.forget();
}

/// Fetches the estimated embeddings and hands them to the app.
async fn fetch_estimated() -> Result<String, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str(ESTIMATED_URL))
        .await
        .map_err(|e| format!("{e:?}"))?;
    let response: web_sys::Response = response.dyn_into().map_err(|e| format!("{e:?}"))?;
    if !response.ok() {
        return Err(format!("{ESTIMATED_URL}: HTTP {}", response.status()));
    }
    let text = response.text().map_err(|e| format!("{e:?}"))?;
    wasm_bindgen_futures::JsFuture::from(text)
        .await
        .map_err(|e| format!("{e:?}"))?
        .as_string()
        .ok_or_else(|| format!("{ESTIMATED_URL} is not text"))
}

/// What the page last reported, so it reports again only when something changed.
#[derive(Clone, Debug, Default, PartialEq)]
struct Reported {
    ready: bool,
    revision: u64,
    has_numbers: bool,
    heatmap: Option<[f32; 4]>,
    /// Steps 1 and 2's optimisers: steps read back, and whether the fine-tune has landed.
    training: (Option<u32>, Option<bool>),
    /// Step 4: the stage's generation, and whether its numbers are in.
    context: (u64, bool),
    message: Option<String>,
    info: Option<String>,
}

/// The page's side of the app: the address bar, the loading indicator and the status report.
#[derive(Default)]
pub struct Page {
    /// `performance.now()` when the first frame was presented: time to first frame.
    first_frame_ms: Option<f64>,
    /// `performance.now()` when the first computed numbers were on screen.
    numbers_ms: Option<f64>,
    /// The scene the fragment was last written from.
    linked: Option<Scene>,
    reported: Reported,
    /// The scene changed since the last report.
    scene_changed: bool,
    /// `performance.now()` of the last report.
    reported_at: Option<f64>,
}

impl PageHooks for Page {
    /// The GPU is connected: say which backend, and start fetching the estimated features (so
    /// they arrive after the first frame, not before it).
    fn connected(&mut self, state: &WindowState, proxy: &EventLoopProxy<AppEvent>) {
        set_data("gazeBackend", state.backend());
        let proxy = proxy.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let _ = proxy.send_event(AppEvent::Estimated(fetch_estimated().await));
        });
    }

    /// After each frame: keep the fragment in step with the scene, drop the loading indicator
    /// once a frame is on screen, and report what changed.
    fn after_frame(&mut self, state: &WindowState, scene: &Scene) {
        if self.linked.as_ref() != Some(scene) {
            // Only a scene that would open again becomes the address (a sentence past its limit,
            // still in the box to be fixed, keeps the last good link).
            if scene.validate().is_ok() {
                let fragment = format!("#{}", scene.to_fragment());
                if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
                    let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&fragment));
                }
            }
            self.linked = Some(scene.clone());
            self.scene_changed = true;
        }
        let stage = state.session().attention();
        // Compared before anything is built, so a frame where nothing changed allocates nothing.
        let same_notes = self.reported.message.as_deref() == state.session().message()
            && self.reported.info.as_deref() == state.session().lines.info.as_deref();
        let now = Reported {
            ready: state.frames() > 0,
            revision: stage.map_or(0, |s| s.revision),
            has_numbers: stage.is_some_and(|s| s.result.is_some()),
            heatmap: state
                .session()
                .layout
                .heatmaps
                .first()
                .map(|r| [r.min.x, r.min.y, r.width(), r.height()]),
            training: (
                state.session().trainers().fit().map(|f| f.view().steps),
                state
                    .session()
                    .trainers()
                    .fine_tune()
                    .map(|f| f.view().kl_to_closed_form.is_some()),
            ),
            context: state
                .session()
                .context_lesson()
                .shown()
                .map_or((0, false), |s| (s.generation, s.numbers.is_some())),
            message: None,
            info: None,
        };
        let unchanged = now.ready == self.reported.ready
            && now.context == self.reported.context
            && now.revision == self.reported.revision
            && now.has_numbers == self.reported.has_numbers
            && now.heatmap == self.reported.heatmap
            && now.training == self.reported.training;
        let clock = || {
            web_sys::window()
                .and_then(|w| w.performance())
                .map(|p| p.now())
        };
        // Nothing changed: no report, except a heartbeat twice a second so the frame count
        // (the animation running with no input) stays readable.
        let heartbeat = match (clock(), self.reported_at) {
            (Some(now), Some(at)) => now - at >= 500.0,
            _ => true,
        };
        if unchanged && same_notes && !self.scene_changed && !heartbeat {
            return;
        }
        self.reported_at = clock();
        let now = Reported {
            message: state.session().message().map(str::to_owned),
            info: state.session().lines.info.as_deref().map(str::to_owned),
            ..now
        };
        if now.has_numbers && self.numbers_ms.is_none() {
            self.numbers_ms = clock();
        }
        if now.ready && !self.reported.ready {
            self.first_frame_ms = clock();
            if let Some(loading) = document().and_then(|d| d.get_element_by_id("gaze-loading")) {
                loading.remove();
            }
        }
        self.scene_changed = false;
        self.reported = now;
        let mut report = status(state, scene);
        if let Some(fields) = report.as_object_mut() {
            fields.insert("first_frame_ms".into(), self.first_frame_ms.into());
            fields.insert("numbers_ms".into(), self.numbers_ms.into());
        }
        set_data("gazeStatus", &report.to_string());
    }
}

/// The report behind `data-gaze-status`.
fn status(state: &WindowState, scene: &Scene) -> serde_json::Value {
    let stage = state.session().attention();
    let heatmap = state.session().layout.heatmaps.first();
    let colormap = state.session().presenter.colormap;
    // The colour each cell of head 0 must show: the CPU colour map of the computed weight (for
    // maps small enough to check cell by cell; a 1000-token map would be a 3 MB attribute).
    let cells: Vec<[u8; 3]> = stage
        .and_then(|s| s.result.as_ref())
        .filter(|r| r.params.n_tokens <= 64)
        .map(|result| {
            let cells = (result.params.query_count * result.params.n_tokens) as usize;
            result
                .weights
                .iter()
                .take(cells)
                .map(|&w| colormap.sample(w))
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({
        "ready": state.frames() > 0,
        "frames": state.frames(),
        "backend": state.backend(),
        "compute": if state.session().lesson().computes_on_gpu() { "gpu" } else { "cpu" },
        "notice": state.session().lines.notice.as_deref(),
        "device_pixel_ratio": state.window().scale_factor(),
        "surface": state.surface_size(),
        "reduced_motion": state.session().presenter.reduced_motion,
        "theme": state.session().presenter.theme.name(),
        "colormap": state.session().presenter.colormap.name(),
        "controls": state.session().presenter.controls,
        "export": state.session().lines.status.as_deref(),
        "documents": scene.context.documents.len(),
        "message": state.session().message(),
        "info": state.session().lines.info.as_deref(),
        "recovery": state.session().lines.recovery.as_deref(),
        "step": scene.step,
        "attention": scene.attention,
        "rlhf": scene.rlhf,
        "corpus": scene.corpus,
        "tokens": stage.map(|s| s.tokens.iter().map(|t| t.text.clone()).collect::<Vec<_>>()),
        "heatmap": heatmap.map(|r| serde_json::json!({
            "x": r.min.x, "y": r.min.y, "width": r.width(), "height": r.height(),
            "n": stage.map_or(0, |s| s.params.n_tokens),
            "rows": stage.map_or(0, |s| s.params.query_count),
        })),
        "cells": cells,
        "fit": state.session().trainers().fit().map(|f| {
            let view = f.view();
            serde_json::json!({
                "steps": view.steps,
                "total_steps": view.total_steps,
                "on_gpu": view.on_gpu,
                "first_loss": view.losses.first(),
                "last_loss": view.losses.last(),
                "loss_floor": view.loss_floor,
                "kl_to_counts": view.kl_to_counts,
            })
        }),
        "context": context_status(state),
        "fine_tune": state.session().trainers().fine_tune().map(|f| {
            let view = f.view();
            serde_json::json!({
                "on_gpu": view.on_gpu,
                "steps": view.steps,
                "kl_to_closed_form": view.kl_to_closed_form,
            })
        }),
    })
}

/// Step 4 as the page reports it: the level's context and what attention read off it.
fn context_status(state: &WindowState) -> serde_json::Value {
    let colormap = state.session().presenter.colormap;
    use crate::model::context::{argmax, label_scores};
    let step4 = state.session().context_lesson();
    let Some(stage) = step4.shown() else {
        return serde_json::Value::Null;
    };
    let masses = stage.numbers.as_ref().map(|n| &n.masses[..]);
    let prediction = masses.and_then(|m| {
        let scores = label_scores(&stage.input.spans, m);
        let values: Vec<f32> = scores.iter().map(|s| s.1).collect();
        argmax(&values)
            .and_then(|i| scores.get(i))
            .map(|score| score.0.clone())
    });
    let source = masses
        .and_then(argmax)
        .and_then(|i| stage.input.spans.get(i))
        .map(|s| s.name.clone());
    let overview = state.session().overview_rect;
    // The colour each overview cell must show (small maps only, as for step 3's cells).
    let overview_cells: Vec<[u8; 3]> = stage
        .numbers
        .as_ref()
        .filter(|_| stage.bins <= 32)
        .map(|n| {
            n.overview
                .iter()
                .map(|&w| colormap.sample(crate::render::heatmap::overview_shade(w, n.range)))
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({
        "overview_cells": overview_cells,
        "tokens": stage.input.context_tokens(),
        "on_gpu": stage.on_gpu,
        "has_numbers": stage.numbers.is_some(),
        "prediction": prediction,
        "source": source,
        "bins": stage.bins,
        "latency_ms": stage.numbers.as_ref().map(|n| n.latency_ms),
        "overview": overview.map(|r| serde_json::json!({
            "x": r.min.x, "y": r.min.y, "width": r.width(), "height": r.height(),
        })),
    })
}
