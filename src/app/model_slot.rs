//! The real model beside the lesson model: reading it off the frame's thread, which of the two
//! the scene has live, and steps 1 and 2's real odds.
//!
//! The scene decides which model is live (`Scene::model`: `"lesson"` or a file's name and
//! SHA-256), so a saved scene says what it was made on. A real model is live when the scene names
//! the file that is loaded (the same SHA-256); a scene naming a model that is not loaded keeps
//! its name — saving it loses nothing — while the lesson model is shown, and the screen says so.

#[cfg(not(target_arch = "wasm32"))]
use std::path::PathBuf;

use crate::app::background::{Background, Landed};
use crate::app::real_lesson::{
    update_layer, update_odds, LayerKey, LayerWorker, LoadedModel, OddsWorker,
};
use crate::model::llm::gguf::GgufFile;
use crate::model::sink::{brightness, hide_first_token, MapScale};
use crate::render::colormap::Colormap;
use crate::scene::{ModelFile, Scene, SceneModel};
use crate::ui::model_picker::{ModelAction, ModelSummary, ModelView};
use crate::ui::step3_real::RealAttentionView;
use crate::ui::RealOddsView;

/// A model file on its way in.
#[derive(Debug)]
struct Loading {
    /// The file's name, as the top bar shows it meanwhile.
    name: String,
    job: Background<Result<LoadedModel, String>>,
    /// Make it live once it is in (it was asked for: `--model`, dropped, opened).
    go_live: bool,
}

/// The chosen head's map as step 3 draws it, made again only when the layer, the head, the
/// scale or the first-token switch changes.
#[derive(Debug, Default)]
pub struct MapCells {
    /// `(layer answer, head, scale, first token hidden)` they were made for.
    made_for: Option<(u64, usize, MapScale, bool)>,
    /// Tokens a side.
    pub n: u32,
    /// The map as shown: the head's weights, renormalised over all but the first token when it
    /// is hidden.
    pub shown: Vec<f32>,
    /// With the first token hidden: each row's true weight on it.
    pub first_share: Vec<f32>,
    /// Each cell's brightness in `[0, 1]` under the scale: what the GPU renderer draws.
    pub cells: Vec<f32>,
    /// Moves whenever `cells` change (the painter re-uploads them).
    pub revision: u64,
}

/// The real model, loaded or loading, and its odds.
#[derive(Debug, Default)]
pub struct ModelSlot {
    loaded: Option<LoadedModel>,
    loading: Option<Loading>,
    /// A model file the picker offers to load (`GAZE_MODEL`), read only when chosen.
    #[cfg(not(target_arch = "wasm32"))]
    available: Option<PathBuf>,
    odds: OddsWorker,
    /// Step 3's layer on the real model.
    layer: LayerWorker,
    /// The chosen head's map as step 3 draws it.
    cells: MapCells,
    /// [`ModelSlot::missing`] as of the last update, for the screen (copied when it changes).
    missing_shown: Option<ModelFile>,
}

impl ModelSlot {
    /// A slot with `model` loaded already (tests, `gaze render`).
    pub fn with_loaded(model: LoadedModel) -> Self {
        Self {
            loaded: Some(model),
            ..Self::default()
        }
    }

    /// Offers `path` in the picker, unread until the user picks it.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn offer(&mut self, path: PathBuf) {
        self.available = Some(path);
    }

    /// Starts reading the model at `path` on its own thread; `go_live` makes it the scene's
    /// model once it is in. A model already loading is replaced.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load_file(&mut self, path: PathBuf, go_live: bool) {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        let job = Background::start("model loader", move || {
            crate::app::llm::load_model_file(&path).map_err(|e| e.to_string())
        });
        self.loading = Some(Loading { name, job, go_live });
    }

    /// Starts parsing a model file's bytes (a file dropped into a browser page) — on its own
    /// thread natively, at once in the browser.
    pub fn load_bytes(&mut self, name: &str, bytes: Vec<u8>, go_live: bool) {
        let file_name = name.to_owned();
        let job = Background::start("model loader", move || {
            let file = GgufFile::parse(bytes).map_err(|e| format!("{file_name}: {e}"))?;
            LoadedModel::from_gguf(&file, &file_name).map_err(|e| format!("{file_name}: {e}"))
        });
        self.loading = Some(Loading {
            name: name.to_owned(),
            job,
            go_live,
        });
    }

    /// Collects a model that has been read: it replaces the one loaded, and becomes the
    /// scene's model if it was asked for. Returns what to tell the user, once.
    pub fn poll_loading(&mut self, scene: &mut Scene) -> Option<Result<String, String>> {
        let loading = self.loading.take()?;
        let loaded = match loading.job.poll() {
            Landed::Pending => {
                self.loading = Some(loading);
                return None;
            }
            Landed::Done(Ok(loaded)) => loaded,
            Landed::Done(Err(error)) => {
                return Some(Err(format!(
                    "the model did not load ({error}); the lesson model stays"
                )))
            }
            Landed::Lost => {
                return Some(Err(format!(
                    "reading {} stopped unexpectedly; the lesson model stays",
                    loading.name
                )))
            }
        };
        let c = &loaded.model.config;
        let told = format!(
            "loaded {} ({} layers × {} heads, {}) in {:.1} s",
            loaded.identity.file,
            c.layers,
            c.heads,
            crate::ui::model_picker::megabytes(loaded.bytes),
            loading.job.seconds()
        );
        if loading.go_live {
            scene.model = SceneModel::File(loaded.identity.clone());
        }
        self.loaded = Some(loaded);
        Some(Ok(told))
    }

    /// The real model the scene has live, if it is loaded.
    pub fn live(&self, scene: &Scene) -> Option<&LoadedModel> {
        let SceneModel::File(named) = &scene.model else {
            return None;
        };
        self.loaded
            .as_ref()
            .filter(|m| m.identity.sha256 == named.sha256)
    }

    /// The model the scene names when it is not the one loaded (nor on its way in): the lesson
    /// model is shown meanwhile.
    pub fn missing<'s>(&self, scene: &'s Scene) -> Option<&'s ModelFile> {
        let SceneModel::File(named) = &scene.model else {
            return None;
        };
        (self.live(scene).is_none() && self.loading.is_none()).then_some(named)
    }

    /// Brings the slot up to date with the scene: what the screen says of a model the scene
    /// names but is not loaded, and, when a real model is live on steps 1 or 2, their odds.
    pub fn update(&mut self, scene: &Scene, wait: bool) {
        let missing = self.missing(scene);
        if self.missing_shown.as_ref() != missing {
            self.missing_shown = missing.cloned();
        }
        if self.live(scene).is_none() {
            return;
        }
        // Borrowed field by field, not cloned: this runs every frame.
        let Some(loaded) = self.loaded.as_ref() else {
            return;
        };
        match scene.step {
            1 | 2 => update_odds(&mut self.odds, loaded, scene, wait),
            3 => {
                update_layer(&mut self.layer, loaded, scene, wait);
                self.refresh_cells(scene);
            }
            _ => {}
        }
    }

    /// Makes the chosen head's map again if what it shows changed.
    fn refresh_cells(&mut self, scene: &Scene) {
        let view = &scene.attention;
        let Some(loaded) = self.loaded.as_ref() else {
            return;
        };
        let Some(answer) = self
            .layer
            .current(&loaded.identity.sha256, |key: &LayerKey| key.matches(scene))
        else {
            return;
        };
        let Ok(layer) = &answer.value else {
            return;
        };
        let made_for = (
            self.layer.generation(),
            view.head,
            view.scale,
            view.hide_first_token,
        );
        if self.cells.made_for == Some(made_for) {
            return;
        }
        let n = layer.n();
        // A head past the model's last (a scene made for another model) shows its last head,
        // as the picker does.
        let head = view.head.min(layer.heads().saturating_sub(1));
        let weights = layer.head_map(head).unwrap_or(&[]);
        let (shown, first_share) = if view.hide_first_token {
            let hidden = hide_first_token(weights, n);
            (hidden.shown, hidden.first_share)
        } else {
            (weights.to_vec(), Vec::new())
        };
        let cells = shown
            .chunks(n.max(1))
            .flat_map(|row| {
                let row_max = row.iter().copied().fold(0.0, f32::max);
                row.iter().map(move |&w| brightness(w, row_max, view.scale))
            })
            .collect();
        self.cells = MapCells {
            made_for: Some(made_for),
            n: n as u32,
            shown,
            first_share,
            cells,
            revision: self.cells.revision + 1,
        };
    }

    /// Step 3's map cells, once made (the painter uploads them).
    pub fn map_cells(&self) -> Option<&MapCells> {
        (!self.cells.cells.is_empty()).then_some(&self.cells)
    }

    /// What step 3 shows of the live real model, if one is.
    pub fn attention_view(
        &self,
        scene: &Scene,
        colormap: Colormap,
    ) -> Option<RealAttentionView<'_>> {
        let loaded = self.live(scene)?;
        let c = &loaded.model.config;
        let current = self
            .layer
            .current(&loaded.identity.sha256, |key: &LayerKey| key.matches(scene));
        let layer = current.and_then(|a| a.value.as_ref().ok());
        // The cells are this layer's only once made for it (the same frame's update did).
        let cells_current = self
            .cells
            .made_for
            .is_some_and(|(generation, head, scale, hide)| {
                generation == self.layer.generation()
                    && head == scene.attention.head
                    && scale == scene.attention.scale
                    && hide == scene.attention.hide_first_token
            });
        Some(RealAttentionView {
            model: &loaded.identity.file,
            layers: c.layers,
            heads: c.heads,
            kv_heads: c.kv_heads,
            d_head: c.d_head,
            rope_base: c.rope_base,
            layer: layer.filter(|_| cells_current),
            shown: &self.cells.shown,
            first_share: &self.cells.first_share,
            error: current.and_then(|a| a.value.as_ref().err().map(String::as_str)),
            computing: self.layer.computing(),
            seconds: current.map(|a| a.seconds),
            colormap,
        })
    }

    /// Applies what the user picked in the model menu; `Open` is the shell's (a file dialog).
    pub fn apply(&mut self, action: ModelAction, scene: &mut Scene) {
        match action {
            ModelAction::UseLesson => scene.model = SceneModel::Lesson,
            ModelAction::UseLoaded => {
                if let Some(loaded) = &self.loaded {
                    scene.model = SceneModel::File(loaded.identity.clone());
                }
            }
            #[cfg(not(target_arch = "wasm32"))]
            ModelAction::LoadAvailable => {
                if let Some(path) = self.available.clone() {
                    self.load_file(path, true);
                }
            }
            #[cfg(target_arch = "wasm32")]
            ModelAction::LoadAvailable => {}
            ModelAction::Open => {}
        }
    }

    /// What the top bar's model menu shows.
    pub fn view(&self, scene: &Scene) -> ModelView<'_> {
        fn summary(m: &LoadedModel) -> ModelSummary<'_> {
            ModelSummary {
                name: &m.identity.file,
                layers: m.model.config.layers,
                heads: m.model.config.heads,
                kv_heads: m.model.config.kv_heads,
                bytes: m.bytes,
            }
        }
        #[cfg(not(target_arch = "wasm32"))]
        let available = self
            .available
            .as_ref()
            .filter(|_| self.loaded.is_none() && self.loading.is_none())
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str());
        #[cfg(target_arch = "wasm32")]
        let available = None;
        ModelView {
            live: self.live(scene).map(summary),
            loaded: self.loaded.as_ref().map(summary),
            loading: self
                .loading
                .as_ref()
                .map(|l| (l.name.as_str(), l.job.seconds())),
            available,
            missing: self.missing_shown.as_ref(),
            can_open: crate::ui::scenes_menu::FILE_DIALOGS,
        }
    }

    /// What steps 1 and 2 show of the live real model, if one is.
    pub fn odds_view(&self, scene: &Scene) -> Option<RealOddsView<'_>> {
        let loaded = self.live(scene)?;
        let current = self
            .odds
            .current(&loaded.identity.sha256, |key| key.matches(scene));
        Some(RealOddsView {
            model: &loaded.identity.file,
            trained_on: loaded.trained_on(),
            odds: current.and_then(|o| o.value.as_deref().ok()),
            error: current.and_then(|o| o.value.as_ref().err().map(String::as_str)),
            seconds: current.map(|o| o.seconds),
            computing: self.odds.computing(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::llm::synthetic::{synthetic_gguf, SyntheticSpec};

    fn synthetic_bytes() -> Vec<u8> {
        synthetic_gguf(&SyntheticSpec::default())
    }

    fn loaded(slot: &mut ModelSlot, scene: &mut Scene) -> String {
        let deadline = web_time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            match slot.poll_loading(scene) {
                Some(Ok(told)) => return told,
                Some(Err(error)) => panic!("{error}"),
                None => assert!(web_time::Instant::now() < deadline, "gave up waiting"),
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn a_model_asked_for_goes_live_and_the_lesson_model_can_come_back() {
        let mut slot = ModelSlot::default();
        let mut scene = Scene::default();
        slot.load_bytes("tiny.gguf", synthetic_bytes(), true);
        assert!(slot.live(&scene).is_none(), "not until it is in");
        let told = loaded(&mut slot, &mut scene);
        assert!(told.starts_with("loaded tiny.gguf ("), "{told}");
        let live = slot.live(&scene).expect("live once in");
        assert_eq!(scene.model, SceneModel::File(live.identity.clone()));
        slot.apply(ModelAction::UseLesson, &mut scene);
        assert_eq!(scene.model, SceneModel::Lesson);
        assert!(slot.live(&scene).is_none());
        slot.apply(ModelAction::UseLoaded, &mut scene);
        assert!(slot.live(&scene).is_some());
    }

    #[test]
    fn a_scene_naming_another_model_keeps_its_name_and_shows_the_lesson_model() {
        let mut slot = ModelSlot::default();
        let mut scene = Scene::default();
        slot.load_bytes("tiny.gguf", synthetic_bytes(), false);
        loaded(&mut slot, &mut scene);
        assert_eq!(scene.model, SceneModel::Lesson, "not asked to go live");
        let other = ModelFile {
            file: "other.gguf".into(),
            sha256: "0".repeat(64),
        };
        scene.model = SceneModel::File(other.clone());
        assert!(slot.live(&scene).is_none());
        assert_eq!(slot.missing(&scene), Some(&other));
        slot.update(&scene, false);
        let view = slot.view(&scene);
        assert!(view.live.is_none(), "the lesson model is shown");
        assert_eq!(view.missing, Some(&other), "and the screen says why");
        assert_eq!(scene.model, SceneModel::File(other), "the scene keeps it");
    }

    #[test]
    fn a_file_that_is_not_a_model_is_refused_and_the_lesson_model_stays() {
        let mut slot = ModelSlot::default();
        let mut scene = Scene::default();
        slot.load_bytes("notes.gguf", b"not a model".to_vec(), true);
        let deadline = web_time::Instant::now() + std::time::Duration::from_secs(60);
        let said = loop {
            if let Some(said) = slot.poll_loading(&mut scene) {
                break said;
            }
            assert!(web_time::Instant::now() < deadline);
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        let error = said.expect_err("refused");
        assert!(
            error.starts_with("the model did not load (notes.gguf: "),
            "{error}"
        );
        assert!(error.ends_with("the lesson model stays"), "{error}");
        assert_eq!(scene.model, SceneModel::Lesson);
    }

    /// The odds the panels show are always the scene's own: a change to the endings makes the
    /// old ones vanish until the new ones land; a count (which the real odds do not depend on)
    /// keeps them.
    #[test]
    fn steps_1_and_2_show_odds_only_for_the_scene_they_were_computed_for() {
        let mut slot = ModelSlot::default();
        let mut scene = Scene {
            step: 1,
            ..Scene::default()
        };
        slot.load_bytes("tiny.gguf", synthetic_bytes(), true);
        loaded(&mut slot, &mut scene);
        slot.update(&scene, true);
        let view = slot.odds_view(&scene).expect("live");
        let odds = view.odds.expect("computed");
        assert_eq!(odds[0].endings.len(), 4);
        assert_eq!(view.computing, None);
        scene.corpus.rows[0].count += 5;
        assert!(slot.odds_view(&scene).unwrap().odds.is_some(), "a count");
        scene.corpus.rows[0].ending = "duckdb".into();
        assert!(slot.odds_view(&scene).unwrap().odds.is_none(), "stale");
        slot.update(&scene, true);
        let view = slot.odds_view(&scene).unwrap();
        assert_eq!(view.odds.unwrap()[0].endings[0].ending, "duckdb");
    }
}
