//! Links: any text through `Scene::from_fragment` (the web build reads it from the address bar).
//! It may not panic, and a link that opens is a valid scene whose own link opens as the same scene
//! with no unknown keys.
#![no_main]

use gaze::scene::Scene;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(fragment) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((scene, _unknown)) = Scene::from_fragment(fragment) else {
        return;
    };
    scene
        .validate()
        .expect("from_fragment accepted an invalid scene");
    let link = scene.to_fragment();
    let (again, unknown) = Scene::from_fragment(&link)
        .unwrap_or_else(|e| panic!("the scene's own link does not open: {e}\n{link}"));
    assert_eq!(again, scene, "the scene's own link opens changed\n{link}");
    assert!(
        unknown.is_empty(),
        "its own link has unknown keys {unknown:?}\n{link}"
    );
    assert_eq!(again.to_fragment(), link, "the link is not stable");
});
