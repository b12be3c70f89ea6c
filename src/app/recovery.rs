//! Nothing the user made is lost to a bug: a panic hook writes the scene as it stood to a
//! [`RecoveryStore`] before the process ends, and the next start offers to restore it.
//!
//! The window keeps a [`SceneSnapshot`] current (a clone taken when the scene changed, checked a
//! few times a second, never per frame). The hook only serialises that clone, with `try_lock` so
//! a panic while the snapshot is being replaced cannot deadlock the dying process. Natively it
//! writes the file through a temporary name and a rename, like "save scene as…", so a crash
//! while writing never leaves half a scene behind.
//!
//! Where: natively `$GAZE_RECOVERY_DIR` when set (tests), else the platform's state folder:
//! `$XDG_STATE_HOME/gaze` or `~/.local/state/gaze` (Linux, BSD), `~/Library/Application
//! Support/gaze` (macOS), `%LOCALAPPDATA%\gaze` (Windows). The file is `recovered-scene.json`, a
//! plain scene file: `gaze --scene` opens it too. In the browser: the page's `localStorage`
//! (the address bar holds the scene as well, but never its documents).

use std::sync::{Arc, Mutex};

use crate::scene::Scene;

/// The recovery file's name inside the native recovery folder.
pub const FILE_NAME: &str = "recovered-scene.json";

/// The `localStorage` keys of the browser's recovery: the scene file's text, and when it was
/// saved (milliseconds since 1970).
#[cfg(target_arch = "wasm32")]
const STORAGE_KEYS: (&str, &str) = ("gaze.recovered-scene", "gaze.recovered-at");

/// Where a scene saved after a crash is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecoveryStore {
    /// A scene file on disk (native).
    File(std::path::PathBuf),
    /// The page's `localStorage` (web).
    #[cfg(target_arch = "wasm32")]
    Browser,
}

/// A scene saved when Gaze last stopped unexpectedly, offered back at the next start.
#[derive(Clone, Debug, PartialEq)]
pub struct RecoveryOffer {
    /// The saved scene.
    pub scene: Scene,
    /// One line for the banner: when, which step, what it held.
    pub summary: String,
}

impl RecoveryStore {
    /// This platform's store (see the module's documentation), if it has one.
    pub fn for_this_platform() -> Option<Self> {
        #[cfg(target_arch = "wasm32")]
        {
            Some(Self::Browser)
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            native::recovery_dir().map(|dir| Self::File(dir.join(FILE_NAME)))
        }
    }

    /// Where, for people: the file's path, or "this browser's storage".
    pub fn describe(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            #[cfg(target_arch = "wasm32")]
            Self::Browser => "this browser's storage for the page".to_owned(),
        }
    }

    /// Keeps `scene` here (natively making the folder first).
    pub fn save(&self, scene: &Scene) -> Result<(), String> {
        match self {
            Self::File(path) => native::save(path, scene),
            #[cfg(target_arch = "wasm32")]
            Self::Browser => browser::save(scene),
        }
    }

    /// What is waiting here: `Ok(None)` when nothing is. A saved scene that cannot be read is an
    /// error naming where it is (it is left there).
    pub fn pending_offer(&self) -> Result<Option<RecoveryOffer>, String> {
        let saved = match self {
            Self::File(path) => native::load(path)?,
            #[cfg(target_arch = "wasm32")]
            Self::Browser => browser::load()?,
        };
        Ok(saved.map(|(scene, age_seconds)| {
            let saved = age_seconds.map_or_else(String::new, |age| {
                format!("saved {} ago, ", describe_age(age))
            });
            let summary = format!(
                "{saved}on step {}, sentence \"{}\"",
                scene.step,
                shorten(&scene.attention.sentence, 40)
            );
            RecoveryOffer { scene, summary }
        }))
    }

    /// Sets the offered scene aside once it was restored or discarded, so it is offered once:
    /// natively renamed `recovered-scene.json.old` (kept until the next crash replaces it); in the
    /// browser removed. Returns what to tell the user about where it went.
    pub fn retire(&self) -> Result<String, String> {
        match self {
            Self::File(path) => native::retire(path),
            #[cfg(target_arch = "wasm32")]
            Self::Browser => browser::retire(),
        }
    }
}

/// The scene as it last stood, shared between the window (which updates it) and the panic hook
/// (which saves it).
#[derive(Clone, Debug, Default)]
pub struct SceneSnapshot(Arc<Mutex<Option<Scene>>>);

impl SceneSnapshot {
    /// Takes a copy of `scene` if it differs from the last one. Comparing is cheap next to a
    /// frame; the copy happens only when the user changed something.
    pub fn update(&self, scene: &Scene) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref() != Some(scene) {
            *slot = Some(scene.clone());
        }
    }

    /// The last copy, unless the lock is held right now (a panic while it is being replaced).
    fn try_get(&self) -> Option<Scene> {
        match self.0.try_lock() {
            Ok(slot) => slot.clone(),
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner().clone(),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

/// Installs the hook that saves `snapshot` to `store` when anything panics, then runs the
/// previous hook (which prints the panic, or in the browser shows it on the page).
pub fn install_panic_hook(snapshot: SceneSnapshot, store: RecoveryStore) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let told = match snapshot.try_get() {
            Some(scene) => match store.save(&scene) {
                Ok(()) => format!(
                    "gaze: Gaze hit a bug and has to close. Your scene was saved to {}; start \
                     gaze again and it offers to restore it.",
                    store.describe()
                ),
                Err(error) => format!("gaze: Gaze hit a bug and could not save the scene: {error}"),
            },
            None => "gaze: Gaze hit a bug before the scene could be copied.".to_owned(),
        };
        crate::gpu::context::report(&told);
        previous(info);
    }));
}

fn describe_age(seconds: u64) -> String {
    match seconds {
        0..=89 => format!("{seconds} s"),
        90..=5399 => format!("{} min", seconds.div_ceil(60)),
        5400..=172_799 => format!("{} h", seconds / 3600),
        _ => format!("{} days", seconds / 86_400),
    }
}

/// The first `chars` characters of `text`, with "..." when cut (cut at a character, never inside
/// one: sentences may hold any Unicode).
fn shorten(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => format!("{}...", text.get(..end).unwrap_or(text)),
        None => text.to_owned(),
    }
}

/// The recovery file on disk.
mod native {
    use std::path::{Path, PathBuf};

    use crate::scene::Scene;

    /// The folder recovery files go to, if the platform has one.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub fn recovery_dir() -> Option<PathBuf> {
        let from_env = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        if let Some(dir) = from_env("GAZE_RECOVERY_DIR") {
            return Some(dir);
        }
        if cfg!(windows) {
            return from_env("LOCALAPPDATA").map(|d| d.join("gaze"));
        }
        if cfg!(target_os = "macos") {
            return from_env("HOME").map(|d| d.join("Library/Application Support/gaze"));
        }
        from_env("XDG_STATE_HOME")
            .or_else(|| from_env("HOME").map(|home| home.join(".local/state")))
            .map(|d| d.join("gaze"))
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn save(path: &Path, scene: &Scene) -> Result<(), String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|error| format!("cannot make the folder {}: {error}", dir.display()))?;
        }
        crate::app::scene_files::write_scene_file(path, scene).map_err(|e| e.to_string())
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(path: &Path) -> Result<Option<(Scene, Option<u64>)>, String> {
        if !path.exists() {
            return Ok(None);
        }
        let opened = crate::app::scene_files::read_scene_file(path).map_err(|e| e.to_string())?;
        let age = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
            .map(|age| age.as_secs());
        Ok(Some((opened.scene, age)))
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn retire(path: &Path) -> Result<String, String> {
        let mut old = path.as_os_str().to_owned();
        old.push(".old");
        let old = PathBuf::from(old);
        std::fs::rename(path, &old)
            .map(|()| format!("the file is kept as {}", old.display()))
            .map_err(|error| format!("{} could not be moved aside: {error}", path.display()))
    }

    // The browser has no files: a `File` store is never made there.
    #[cfg(target_arch = "wasm32")]
    pub fn save(_: &Path, _: &Scene) -> Result<(), String> {
        Err("this build keeps no files".into())
    }

    #[cfg(target_arch = "wasm32")]
    pub fn load(_: &Path) -> Result<Option<(Scene, Option<u64>)>, String> {
        Ok(None)
    }

    #[cfg(target_arch = "wasm32")]
    pub fn retire(_: &Path) -> Result<String, String> {
        Ok(String::new())
    }
}

/// The recovery kept in the page's `localStorage`.
#[cfg(target_arch = "wasm32")]
mod browser {
    use super::STORAGE_KEYS;
    use crate::scene::Scene;

    fn storage() -> Result<web_sys::Storage, String> {
        web_sys::window()
            .and_then(|w| w.local_storage().ok().flatten())
            .ok_or_else(|| "this browser keeps no storage for the page".to_owned())
    }

    pub fn save(scene: &Scene) -> Result<(), String> {
        let storage = storage()?;
        let failed = |_| "the browser's storage refused it (full?)".to_owned();
        storage
            .set_item(STORAGE_KEYS.0, &scene.to_json())
            .map_err(failed)?;
        storage
            .set_item(STORAGE_KEYS.1, &js_sys::Date::now().to_string())
            .map_err(failed)
    }

    pub fn load() -> Result<Option<(Scene, Option<u64>)>, String> {
        let Ok(storage) = storage() else {
            return Ok(None);
        };
        let Some(text) = storage.get_item(STORAGE_KEYS.0).ok().flatten() else {
            return Ok(None);
        };
        let opened = Scene::open(&text)
            .map_err(|error| format!("the scene in this browser's storage: {error}"))?;
        let age = storage
            .get_item(STORAGE_KEYS.1)
            .ok()
            .flatten()
            .and_then(|at| at.parse::<f64>().ok())
            .map(|at| ((js_sys::Date::now() - at).max(0.0) / 1000.0) as u64);
        Ok(Some((opened.scene, age)))
    }

    pub fn retire() -> Result<String, String> {
        let storage = storage()?;
        let _ = storage.remove_item(STORAGE_KEYS.0);
        let _ = storage.remove_item(STORAGE_KEYS.1);
        Ok("it was removed from this browser's storage".to_owned())
    }
}

/// The crash recovery of one run: where a panic saves the scene, the copy it
/// saves, and the scene a previous crash left, offered back until the user answers.
#[derive(Default)]
pub struct RunRecovery {
    /// Where a panic saves the scene (none where this platform has nowhere to keep it).
    pub store: Option<RecoveryStore>,
    /// The panic hook's copy of the scene.
    pub snapshot: SceneSnapshot,
    /// The scene a previous crash left, until the user answers.
    pub offer: Option<RecoveryOffer>,
}

impl RunRecovery {
    /// Reads what a previous crash left and installs the panic hook that saves this run's scene
    /// (chained before the hook already installed: the page's failure message, or the default).
    /// A saved scene that cannot be read is said in `message` (the window shows it).
    pub fn start(scene: &crate::scene::Scene, message: &mut Option<String>) -> Self {
        let store = RecoveryStore::for_this_platform();
        let offer = match store.as_ref().map(RecoveryStore::pending_offer) {
            Some(Ok(offer)) => offer,
            Some(Err(error)) => {
                *message = Some(format!(
                    "a scene saved after a crash could not be read: {error}"
                ));
                None
            }
            None => None,
        };
        if let (Some(store), Some(_)) = (&store, &offer) {
            crate::gpu::context::report(&format!(
                "gaze: a scene saved when Gaze last stopped unexpectedly is waiting in {}; the \
                 window offers to restore it",
                store.describe()
            ));
        }
        let snapshot = SceneSnapshot::default();
        snapshot.update(scene);
        if let Some(store) = &store {
            install_panic_hook(snapshot.clone(), store.clone());
        }
        Self {
            store,
            snapshot,
            offer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_scene_is_offered_once_then_retired() {
        let dir = std::env::temp_dir().join(format!("gaze-recovery-{}", std::process::id()));
        let store = RecoveryStore::File(dir.join("not-yet").join(FILE_NAME));
        let mut scene = Scene::default();
        scene.attention.sentence = "emoji 🙂 and עברית survive".into();
        scene.step = 3;
        store.save(&scene).unwrap();
        let offer = store.pending_offer().unwrap().unwrap();
        assert_eq!(offer.scene, scene);
        assert!(offer.summary.contains("on step 3"), "{}", offer.summary);
        assert!(store.retire().unwrap().contains(".old"));
        assert_eq!(store.pending_offer().unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn long_sentences_are_cut_at_a_character() {
        assert_eq!(shorten("ab", 5), "ab");
        assert_eq!(shorten("é🙂xyz", 2), "é🙂...");
    }
}
