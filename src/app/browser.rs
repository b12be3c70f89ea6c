//! The browser's side of the page (wasm32 only): its canvas, its downloads, the data attributes
//! the page's tests read, and the failure message. Plain web-sys helpers that know nothing of
//! the app, so both the window (`app::window`) and the page around it (`app::web`) can use
//! them without importing each other.

use wasm_bindgen::JsCast;

/// What the browser needs for Gaze, said when it has neither.
const NEEDS: &str = "Gaze draws with WebGPU (Chrome and Edge 113+, Safari 26+, Firefox 141+ on \
Windows) or, where that is missing, WebGL2 with hardware acceleration on.";

/// The page's canvas, `<canvas id="gaze-canvas">`; winit makes one if the page has none.
pub fn canvas() -> Option<web_sys::HtmlCanvasElement> {
    document()?
        .get_element_by_id("gaze-canvas")?
        .dyn_into()
        .ok()
}

/// Replaces the loading indicator with what went wrong and what the browser needs.
pub fn show_failure(message: &str) {
    let Some(document) = document() else {
        return;
    };
    let text = format!("Gaze could not start: {message}. {NEEDS}");
    if let Some(loading) = document.get_element_by_id("gaze-loading") {
        loading.set_text_content(Some(&text));
        let _ = loading.set_attribute("class", "failed");
    }
    set_data("gazeError", &text);
}

/// Hands `bytes` to the browser as a download named `name` (an exported PNG).
pub fn download(name: &str, bytes: &[u8], mime: &str) -> Result<(), String> {
    let document = document().ok_or("no document")?;
    let array = js_sys::Uint8Array::from(bytes);
    let parts = js_sys::Array::of1(&array);
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(|e| format!("{e:?}"))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|e| format!("{e:?}"))?;
    let anchor: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|e| format!("{e:?}"))?
        .dyn_into()
        .map_err(|_| "not an anchor".to_owned())?;
    anchor.set_href(&url);
    anchor.set_download(name);
    anchor.click();
    // The click has started the download; the URL is not needed past this task.
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

pub fn document() -> Option<web_sys::Document> {
    web_sys::window()?.document()
}

pub fn set_data(key: &str, value: &str) {
    if let Some(root) = document().and_then(|d| d.document_element()) {
        if let Ok(root) = root.dyn_into::<web_sys::HtmlElement>() {
            let _ = root.dataset().set(key, value);
        }
    }
}
