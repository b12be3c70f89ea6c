//! Scene files: any text through the lenient `Scene::open` and the strict `Scene::from_json`.
//! Neither may panic, and a scene either accepts is valid and survives saving: `to_json` reads
//! back through the strict reader as the same scene.
#![no_main]

use gaze::scene::Scene;
use libfuzzer_sys::fuzz_target;

fn saves_and_reopens(scene: &Scene, how: &str) {
    scene
        .validate()
        .unwrap_or_else(|e| panic!("{how} accepted an invalid scene: {e}"));
    let saved = scene.to_json();
    let reopened = Scene::from_json(&saved)
        .unwrap_or_else(|e| panic!("{how}: the saved scene does not reopen: {e}\n{saved}"));
    assert_eq!(
        &reopened, scene,
        "{how}: the saved scene reopens changed\n{saved}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(opened) = Scene::open(text) {
        saves_and_reopens(&opened.scene, "Scene::open");
        let _ = opened.notes_line();
    }
    if let Ok(scene) = Scene::from_json(text) {
        saves_and_reopens(&scene, "Scene::from_json");
    }
});
