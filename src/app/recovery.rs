//! Nothing the user made is lost to a bug: a panic hook writes the scene as it stood to a recovery
//! file before the process ends, and the next start offers to restore it.
//!
//! The window keeps a [`SceneSnapshot`] current (a clone taken when the scene changed, checked a
//! few times a second, never per frame). The hook only serialises that clone, with `try_lock` so
//! a panic while the snapshot is being replaced cannot deadlock the dying process; it writes the
//! file through a temporary name and a rename, like "save scene as…", so a crash while writing
//! never leaves half a scene behind.
//!
//! Where: `$GAZE_RECOVERY_DIR` when set (tests), else the platform's state folder:
//! `$XDG_STATE_HOME/gaze` or `~/.local/state/gaze` (Linux, BSD), `~/Library/Application
//! Support/gaze` (macOS), `%LOCALAPPDATA%\gaze` (Windows). The file is `recovered-scene.json`,
//! a plain scene file: `gaze --scene` opens it too.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::app::scene_files::{read_scene_file, write_scene_file, SceneFileError};
use crate::scene::Scene;

/// The recovery file's name inside [`recovery_dir`].
pub const FILE_NAME: &str = "recovered-scene.json";

/// The folder recovery files go to (see the module's documentation), if the platform has one.
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

/// The recovery file's path, if the platform has a place for it.
pub fn recovery_path() -> Option<PathBuf> {
    recovery_dir().map(|dir| dir.join(FILE_NAME))
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

/// Installs the hook that saves `snapshot` to `path` when anything panics, then runs the
/// previous hook (which prints the panic as usual).
pub fn install_panic_hook(snapshot: SceneSnapshot, path: PathBuf) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        match snapshot.try_get() {
            Some(scene) => match save(&path, &scene) {
                Ok(()) => eprintln!(
                    "gaze: Gaze hit a bug and has to close. Your scene was saved to {}; start \
                     gaze again and it offers to restore it.",
                    path.display()
                ),
                Err(error) => {
                    eprintln!("gaze: Gaze hit a bug and could not save the scene: {error}")
                }
            },
            None => eprintln!("gaze: Gaze hit a bug before the scene could be copied."),
        }
        previous(info);
    }));
}

/// Writes `scene` to the recovery file at `path`, making its folder first.
pub fn save(path: &Path, scene: &Scene) -> Result<(), SceneFileError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|error| SceneFileError::Write {
            path: path.to_owned(),
            error,
        })?;
    }
    write_scene_file(path, scene)
}

/// A scene saved when Gaze last stopped unexpectedly, offered back at the next start.
#[derive(Clone, Debug, PartialEq)]
pub struct RecoveryOffer {
    /// The saved scene.
    pub scene: Scene,
    /// Where it was saved.
    pub path: PathBuf,
    /// One line for the banner: when, which step, what it held.
    pub summary: String,
}

/// What is waiting in `path`: `Ok(None)` when nothing is. A file that cannot be read as a scene
/// is an error (the banner says so and names the file; it is left where it is).
pub fn pending_offer(path: &Path) -> Result<Option<RecoveryOffer>, SceneFileError> {
    if !path.exists() {
        return Ok(None);
    }
    let opened = read_scene_file(path)?;
    let saved = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .map_or_else(String::new, |age| {
            format!("saved {} ago, ", describe_age(age.as_secs()))
        });
    let scene = opened.scene;
    let summary = format!(
        "{saved}on step {}, sentence \"{}\"",
        scene.step,
        shorten(&scene.attention.sentence, 40)
    );
    Ok(Some(RecoveryOffer {
        scene,
        path: path.to_owned(),
        summary,
    }))
}

/// Moves the offered file aside once it was restored or discarded, so it is offered once; it
/// stays on disk (`recovered-scene.json.old`) until the next crash replaces it.
pub fn retire(path: &Path) -> std::io::Result<()> {
    let mut old = path.as_os_str().to_owned();
    old.push(".old");
    std::fs::rename(path, PathBuf::from(old))
}

fn describe_age(seconds: u64) -> String {
    match seconds {
        0..=89 => format!("{seconds} s"),
        90..=5399 => format!("{} min", seconds.div_ceil(60)),
        5400..=172_799 => format!("{} h", seconds / 3600),
        _ => format!("{} days", seconds / 86_400),
    }
}

/// The first `chars` characters of `text`, with "…" when cut (cut at a character, never inside
/// one: sentences may hold any Unicode).
fn shorten(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => format!("{}...", text.get(..end).unwrap_or(text)),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_scene_is_offered_once_then_retired() {
        let dir = std::env::temp_dir().join(format!("gaze-recovery-{}", std::process::id()));
        let path = dir.join("not-yet").join(FILE_NAME);
        let mut scene = Scene::default();
        scene.attention.sentence = "emoji 🙂 and עברית survive".into();
        scene.step = 3;
        save(&path, &scene).unwrap();
        let offer = pending_offer(&path).unwrap().unwrap();
        assert_eq!(offer.scene, scene);
        assert!(offer.summary.contains("on step 3"), "{}", offer.summary);
        retire(&path).unwrap();
        assert_eq!(pending_offer(&path).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn long_sentences_are_cut_at_a_character() {
        assert_eq!(shorten("ab", 5), "ab");
        assert_eq!(shorten("é🙂xyz", 2), "é🙂...");
    }
}
