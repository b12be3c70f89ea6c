//! `gaze render`: the step-3 view drawn headlessly through the app's own panels and GPU
//! renderers, checked by its pixels.

mod common;

use common::gpu;
use gaze::app::headless::{
    render_context, render_panels, render_scene, render_scene_with, render_to_png, RenderError,
    RenderRequest,
};
use gaze::app::lesson::Lesson;
use gaze::model::lesson::LessonModel;
use gaze::render::colormap::Colormap;
use gaze::scene::Scene;

fn request(width: u32, height: u32, colormap: Colormap) -> RenderRequest {
    RenderRequest {
        width,
        height,
        pixels_per_point: 1.0,
        colormap,
        theme: gaze::ui::theme::Theme::Dark,
    }
}

/// Every cell's colour, sampled away from its printed number, is the colour map's colour of the
/// weight the kernels computed: the heatmap really draws the compute buffer.
fn assert_cells_match_weights(scene: &Scene, colormap: Colormap) {
    let (ctx, _) = gpu();
    let frame = render_scene(ctx, scene, &request(1100, 700, colormap)).unwrap();
    let n = frame.stage.tokens.len();
    assert_eq!(frame.layout.heatmaps.len(), scene.attention.heads);
    for (head, rect) in frame.layout.heatmaps.iter().enumerate() {
        let cell = rect.width() / n as f32;
        for i in 0..n {
            let row = frame
                .stage
                .result
                .as_ref()
                .unwrap()
                .weights_row(head, i)
                .unwrap();
            for (j, &w) in row.iter().enumerate() {
                // 20% in from the cell's top-left corner: inside the cell, clear of its text.
                let x = (rect.min.x + (j as f32 + 0.2) * cell) * frame.pixels_per_point;
                let y = (rect.min.y + (i as f32 + 0.2) * cell) * frame.pixels_per_point;
                let pixel = frame.image.get_pixel(x as u32, y as u32).0;
                let expected = colormap.sample(w);
                for k in 0..3 {
                    assert!(
                        (i32::from(pixel[k]) - i32::from(expected[k])).abs() <= 2,
                        "head {head} cell ({i}, {j}) weight {w}: drew {pixel:?}, expected {expected:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn heatmap_cells_are_the_colours_of_the_computed_weights() {
    assert_cells_match_weights(&Scene::default(), Colormap::Viridis);
}

#[test]
fn every_head_gets_its_own_map_in_cividis_too() {
    let mut scene = Scene::default();
    scene.attention.heads = 4;
    scene.attention.causal = true;
    assert_cells_match_weights(&scene, Colormap::Cividis);
}

#[test]
fn render_is_not_blank_and_marks_the_focus_row() {
    let (ctx, _) = gpu();
    let frame = render_scene(
        ctx,
        &Scene::default(),
        &request(900, 600, Colormap::Viridis),
    )
    .unwrap();
    let mut colours: Vec<[u8; 4]> = frame.image.pixels().map(|p| p.0).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() > 50,
        "only {} distinct colours",
        colours.len()
    );
    // The focus row (`is`, row 3) is outlined in the strong text colour just outside the map.
    let rect = frame.layout.heatmaps[0];
    let cell = rect.width() / 4.0;
    let y = (rect.min.y + 3.5 * cell) as u32;
    let outline = frame.image.get_pixel((rect.max.x + 1.0) as u32, y).0;
    assert!(
        outline[0] > 200 && outline[1] > 200 && outline[2] > 200,
        "outline pixel {outline:?}"
    );
}

#[test]
fn steps_not_built_yet_and_empty_sizes_are_refused() {
    let (ctx, _) = gpu();
    let scene = Scene {
        step: 1,
        ..Scene::default()
    };
    assert!(matches!(
        render_scene(ctx, &scene, &request(100, 100, Colormap::Viridis)),
        Err(RenderError::Step(1))
    ));
    let error = render_scene(ctx, &Scene::default(), &request(0, 100, Colormap::Viridis))
        .err()
        .unwrap();
    assert!(error.to_string().contains("0×100"), "{error}");
}

/// The golden image of the default scene, rendered headlessly at 1280×800. Tolerance: a pixel
/// counts as different when a channel differs by more than 24 levels (text antialiasing and
/// rounding differ between adapters), and at most 0.5% of pixels may differ — enough to catch a
/// moved panel, a missing arc or a wrong colour map, not enough for a driver's rounding to fail
/// it. `UPDATE_GOLDEN=1 cargo test --test render` rewrites the file on purpose.
#[test]
fn default_scene_matches_the_golden_image() {
    let (ctx, _) = gpu();
    let frame = render_scene(
        ctx,
        &Scene::default(),
        &request(1280, 800, Colormap::Viridis),
    )
    .unwrap();
    assert_matches_golden(&frame.image, "step3_default");
}

/// `image` against `tests/golden/{name}.png`, with the tolerance above.
fn assert_matches_golden(image: &image::RgbaImage, name: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.png"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        image.save(&path).unwrap();
    }
    let golden = image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()))
        .to_rgba8();
    assert_eq!(golden.dimensions(), image.dimensions(), "{name}");
    let differing = golden
        .pixels()
        .zip(image.pixels())
        .filter(|(a, b)| (0..3).any(|k| (i32::from(a.0[k]) - i32::from(b.0[k])).abs() > 24))
        .count();
    let total = (golden.width() * golden.height()) as usize;
    if differing * 200 > total {
        let out = std::env::temp_dir().join(format!("gaze-{name}-actual.png"));
        let _ = image.save(&out);
        panic!(
            "{name}: {differing} of {total} pixels differ from the golden image; this render: {}",
            out.display()
        );
    }
}

/// The golden renders of steps 1–4 in the projector theme (high contrast on light, large type,
/// thick arcs), as `gaze render --theme projector --step N` draws them at 1280×800.
#[test]
fn projector_theme_renders_of_every_step_match_their_golden_images() {
    let (ctx, _) = gpu();
    let request = RenderRequest {
        theme: gaze::ui::theme::Theme::Projector,
        ..request(1280, 800, Colormap::Viridis)
    };
    for step in 1..=4 {
        let scene = Scene {
            step,
            ..Scene::default()
        };
        let image = gaze::app::headless::render_image(ctx, &scene, &request).unwrap();
        // Light: the projector theme's panels are white, its text black.
        let white = image
            .pixels()
            .filter(|p| p.0[..3] == [255, 255, 255])
            .count();
        assert!(
            white * 2 > image.pixels().len(),
            "step {step}: the projector theme is mostly white ({white} white pixels)"
        );
        assert_matches_golden(&image, &format!("projector_step{step}"));
    }
}

/// The WebGL2 fallback's path, natively: attention on the CPU reference, its weights uploaded into
/// a vertex buffer, the arcs eased by the CPU twin — the frame must be the kernels' frame.
#[test]
fn cpu_reference_fallback_draws_the_frame_the_kernels_draw() {
    let (ctx, _) = gpu();
    let mut scene = Scene::default();
    scene.attention.heads = 2;
    scene.attention.causal = true;
    let request = request(1280, 800, Colormap::Viridis);
    let kernels = render_scene(ctx, &scene, &request).unwrap();
    let lesson = Lesson::on_cpu_reference(LessonModel::builtin().unwrap());
    assert!(!lesson.computes_on_gpu());
    let reference = render_scene_with(ctx, &scene, &request, lesson).unwrap();
    assert!(!reference.stage.on_gpu, "no kernel ran");
    assert_eq!(kernels.layout, reference.layout);
    let differing = kernels
        .image
        .pixels()
        .zip(reference.image.pixels())
        .filter(|(a, b)| (0..3).any(|k| (i32::from(a.0[k]) - i32::from(b.0[k])).abs() > 8))
        .count();
    assert!(
        differing * 1000 < kernels.image.pixels().len(),
        "{differing} pixels differ between the kernels' frame and the CPU reference's"
    );
}

/// `gaze render --step 1|2`: the corpus and RLHF panels, headless. The predicted word is drawn
/// in the winner's yellow, large; changing the data changes the picture.
#[test]
fn steps_one_and_two_render_their_panels() {
    let (ctx, _) = gpu();
    let yellow = |image: &image::RgbaImage| {
        image
            .pixels()
            .filter(|p| p.0[0] > 240 && p.0[1] > 215 && p.0[2] < 70)
            .count()
    };
    for step in [1, 2] {
        let scene = Scene {
            step,
            ..Scene::default()
        };
        let image = render_panels(ctx, &scene, &request(1280, 800, Colormap::Viridis)).unwrap();
        assert_eq!(image.dimensions(), (1280, 800));
        assert!(yellow(&image) > 500, "step {step}: the prediction is drawn");
    }
    let mut scene = Scene {
        step: 4,
        ..Scene::default()
    };
    assert!(matches!(
        render_panels(ctx, &scene, &request(100, 100, Colormap::Viridis)),
        Err(RenderError::Step(4))
    ));
    scene.step = 1;
    let before = render_panels(ctx, &scene, &request(800, 500, Colormap::Viridis)).unwrap();
    scene.corpus.rows[1].count = 30;
    let after = render_panels(ctx, &scene, &request(800, 500, Colormap::Viridis)).unwrap();
    assert_ne!(before, after, "the picture follows the corpus");
}

/// `gaze render --step 4`: the step-4 panel and its overview map, headless. Every overview cell,
/// sampled at its centre, is the viridis colour (on the overview's log scale) of that bin as the
/// CPU reference computes it: the map drawn is the compute pass's map, not a blank rectangle.
#[test]
fn step_four_draws_the_overview_map_the_reference_computes() {
    use gaze::model::context::{self, OVERVIEW_BINS};
    use gaze::render::heatmap::overview_shade;

    let (ctx, _) = gpu();
    let scene = Scene {
        step: 4,
        ..Scene::default()
    };
    assert_eq!(
        scene.context.level, 2,
        "the default scene's step 4 is in-context learning"
    );
    // Tall enough that the map is on screen below the prediction and the arcs.
    let frame = render_context(ctx, &scene, &request(1280, 1100, Colormap::Viridis)).unwrap();
    assert_eq!(frame.image.dimensions(), (1280, 1100));
    let rect = frame.overview.expect("the overview map was drawn");

    let model = LessonModel::builtin().unwrap();
    let input = context::in_context_input(
        &model,
        &scene.context.examples,
        &scene.context.review,
        scene.context.budget_tokens,
    )
    .unwrap();
    let bins = context::overview_bins(input.tokens.len(), OVERVIEW_BINS);
    assert_eq!(frame.bins, bins);
    let reference = context::compute(&input, bins).unwrap();
    let bins = bins as usize;
    assert_eq!(reference.overview.len(), bins * bins);
    let range = gaze::render::heatmap::overview_range(&reference.overview);

    let ppp = frame.pixels_per_point;
    let cell = rect.width() / bins as f32;
    let mut colours = Vec::new();
    for i in 0..bins {
        for j in 0..bins {
            let weight = reference.overview[i * bins + j];
            let x = (rect.min.x + (j as f32 + 0.5) * cell) * ppp;
            let y = (rect.min.y + (i as f32 + 0.5) * cell) * ppp;
            assert!(
                y < frame.image.height() as f32,
                "cell ({i}, {j}) is off the image"
            );
            let pixel = frame.image.get_pixel(x as u32, y as u32).0;
            let expected = Colormap::Viridis.sample(overview_shade(weight, range));
            for k in 0..3 {
                assert!(
                    (i32::from(pixel[k]) - i32::from(expected[k])).abs() <= 3,
                    "cell ({i}, {j}) weight {weight}: drew {pixel:?}, expected {expected:?}"
                );
            }
            colours.push(expected);
        }
    }
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() > 4,
        "the map has structure: {} distinct colours",
        colours.len()
    );

    // The PNG path takes step 4 too, and every step but the lesson's four is refused by name.
    let out = std::env::temp_dir().join(format!("gaze-step4-{}.png", std::process::id()));
    render_to_png(ctx, &scene, &request(640, 400, Colormap::Viridis), &out).unwrap();
    assert_eq!(
        image::open(&out).unwrap().to_rgba8().dimensions(),
        (640, 400)
    );
    let _ = std::fs::remove_file(&out);
    let error = render_context(
        ctx,
        &Scene::default(),
        &request(100, 100, Colormap::Viridis),
    )
    .err()
    .unwrap();
    assert!(matches!(error, RenderError::Step(3)), "{error}");
    assert!(error.to_string().contains("1 to 4"), "{error}");
}

/// A context step 4 refuses is drawn as the window draws it — the panel with the reason — not
/// turned into a failed render.
#[test]
fn a_refused_step_four_context_renders_its_reason() {
    let (ctx, _) = gpu();
    let mut scene = Scene {
        step: 4,
        ..Scene::default()
    };
    scene.context.examples.clear();
    let frame = render_context(ctx, &scene, &request(800, 500, Colormap::Viridis)).unwrap();
    assert!(frame.overview.is_none());
    // The warning colour of the refusal's line.
    let warning = frame
        .image
        .pixels()
        .filter(|p| p.0[0] > 230 && (150..190).contains(&p.0[1]) && p.0[2] < 110)
        .count();
    assert!(
        warning > 50,
        "the refusal is printed ({warning} warning pixels)"
    );
}
