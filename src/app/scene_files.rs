//! Scene files on disk, and the native dialogs that pick them (native only: the web build shares
//! scenes by link, `crate::link`).
//!
//! Reading goes through [`Scene::open`], so a hand-written file or one from another version
//! opens and says what it skipped. Writing never leaves a half-written scene behind: the text
//! goes to a temporary file beside the target, which then replaces it in one rename, so a full
//! disk or a crash mid-save keeps the lecturer's previous file whole.
//!
//! The dialogs run on their own thread and report through a callback, because a native file
//! dialog blocks whoever waits for it, and the window must keep drawing (and a projector keep
//! showing the lesson) while it is open.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::scene::{OpenedScene, Scene, SceneError, MAX_SCENE_BYTES};

/// The dialogs' filter name and extension: scene files are JSON (DESIGN.md §6).
pub const SCENE_FILTER: (&str, &[&str]) = ("Gaze scene", &["json"]);

/// Why a scene file could not be read or written. Each message names the file, and carries the
/// cause in its own text, so the window's one message line says everything.
#[derive(Debug, Error)]
pub enum SceneFileError {
    /// The file could not be read (missing, no permission, a folder).
    #[error("cannot read the scene file {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        error: std::io::Error,
    },
    /// The file is not text (a binary file picked by mistake), or text in another encoding.
    #[error("the scene file {} is not UTF-8 text{}", path.display(), if *utf16 { " (it looks like UTF-16: save it as UTF-8)" } else { "" })]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Whether it starts with a UTF-16 byte-order mark (Windows' "Unicode").
        utf16: bool,
    },
    /// The file is larger than any scene ([`MAX_SCENE_BYTES`]); it was not read further.
    #[error("the scene file {} is over {MAX_SCENE_BYTES} bytes (64 MiB), more than any scene holds: is it the right file?", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The text is not a scene this build can open.
    #[error("in {}: {error}", path.display())]
    Scene {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        error: SceneError,
    },
    /// The scene could not be saved; an existing file at `path` is unchanged.
    #[error("cannot save the scene to {}: {error}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        error: std::io::Error,
    },
    /// The scene holds something a scene file may not (say, a sentence past the longest
    /// taken), so the file would not open again; nothing was written.
    #[error("cannot save the scene to {}: it would not open again, because {error}; nothing was written", path.display())]
    Unsaveable {
        /// The file.
        path: PathBuf,
        /// What is out of range.
        error: SceneError,
    },
    /// The dialog's thread could not start.
    #[error("the file dialog could not open: {0}")]
    Dialog(std::io::Error),
}

/// Reads and opens a scene file: the scene, and the notes on anything it did not read (for the
/// message line, or `gaze: …` on stderr).
pub fn read_scene_file(path: &Path) -> Result<OpenedScene, SceneFileError> {
    let unreadable = |error| SceneFileError::Read {
        path: path.to_owned(),
        error,
    };
    // Read at most one byte past the largest scene: a huge file (or /dev/zero) is refused
    // without being read whole.
    let limit = u64::try_from(MAX_SCENE_BYTES)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(limit).read_to_end(&mut bytes))
        .map_err(unreadable)?;
    if bytes.len() > MAX_SCENE_BYTES {
        return Err(SceneFileError::TooLarge {
            path: path.to_owned(),
        });
    }
    let utf16 = bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]);
    let text = String::from_utf8(bytes).map_err(|_| SceneFileError::NotUtf8 {
        path: path.to_owned(),
        utf16,
    })?;
    Scene::open(&text).map_err(|error| SceneFileError::Scene {
        path: path.to_owned(),
        error,
    })
}

/// Where [`write_scene_file`] writes before renaming: beside the target (a rename only replaces
/// a file in one step within one file system), hidden, and named for it.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scene.json".into());
    path.with_file_name(format!(".{name}.saving"))
}

/// Saves the scene as pretty JSON (the format [`read_scene_file`] opens), replacing `path`
/// only once the whole text is on disk. A scene that would not open again (out of a range
/// [`Scene::validate`] checks, or over [`MAX_SCENE_BYTES`]) is refused before anything is
/// written. On any failure the temporary file is removed and an existing file at `path` is left
/// as it was.
pub fn write_scene_file(path: &Path, scene: &Scene) -> Result<(), SceneFileError> {
    let unsaveable = |error| SceneFileError::Unsaveable {
        path: path.to_owned(),
        error,
    };
    scene.validate().map_err(unsaveable)?;
    let text = scene.to_json();
    if text.len() > MAX_SCENE_BYTES {
        return Err(unsaveable(SceneError::TooLarge { bytes: text.len() }));
    }
    let temporary = temporary_path(path);
    let failed = |error: std::io::Error| SceneFileError::Write {
        path: path.to_owned(),
        error,
    };
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()
    })();
    let replaced = written.and_then(|()| std::fs::rename(&temporary, path));
    if let Err(error) = replaced {
        // Best effort: the save already failed, and that is the error to report.
        let _ = std::fs::remove_file(&temporary);
        return Err(failed(error));
    }
    Ok(())
}

/// A file name to offer in the save dialog, e.g. `gaze_step3.json`.
pub fn suggested_file_name(scene: &Scene) -> String {
    format!("gaze_step{}.json", scene.step)
}

/// The path with `.json` added when it has no extension at all (some dialogs return the name as
/// typed); a name the user gave an extension keeps it.
pub fn with_scene_extension(path: PathBuf) -> PathBuf {
    if path.extension().is_some() {
        path
    } else {
        path.with_extension("json")
    }
}

/// Builds a dialog with `dialog` on a thread of its own and hands its answer to `on_done` there.
/// The dialog is built on that thread, so nothing of it has to cross threads.
fn spawn_dialog<F>(
    name: &str,
    dialog: impl FnOnce() -> F + Send + 'static,
    on_done: impl FnOnce(Option<PathBuf>) + Send + 'static,
) -> Result<(), SceneFileError>
where
    F: std::future::Future<Output = Option<rfd::FileHandle>>,
{
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let picked = pollster::block_on(dialog());
            on_done(picked.map(|handle| handle.path().to_path_buf()));
        })
        .map(|_| ())
        .map_err(SceneFileError::Dialog)
}

/// Shows the native "open" dialog for scene files without blocking the caller. `on_done` runs
/// on the dialog's thread with the chosen file, or `None` when the user cancelled: send the path
/// to the window (a channel) and wake it (`egui::Context::request_repaint`), then read it with
/// [`read_scene_file`].
pub fn spawn_open_dialog(
    on_done: impl FnOnce(Option<PathBuf>) + Send + 'static,
) -> Result<(), SceneFileError> {
    spawn_dialog(
        "gaze open-scene dialog",
        || {
            rfd::AsyncFileDialog::new()
                .set_title("open a scene")
                .add_filter(SCENE_FILTER.0, SCENE_FILTER.1)
                .pick_file()
        },
        on_done,
    )
}

/// Shows the native "open" dialog for a model file (GGUF) without blocking the caller;
/// `on_done` runs on the dialog's thread with the chosen file, or `None` when cancelled.
pub fn spawn_open_model_dialog(
    on_done: impl FnOnce(Option<PathBuf>) + Send + 'static,
) -> Result<(), SceneFileError> {
    spawn_dialog(
        "gaze open-model dialog",
        || {
            rfd::AsyncFileDialog::new()
                .set_title("open a model")
                .add_filter("GGUF model", &["gguf"])
                .pick_file()
        },
        on_done,
    )
}

/// Shows the native "save" dialog for a scene file, offering `suggested_name` (see
/// [`suggested_file_name`]), without blocking the caller. `on_done` runs on the dialog's thread
/// with the chosen path (`.json` added if it has no extension), or `None` when the user
/// cancelled; write the scene with [`write_scene_file`] once it reaches the window.
pub fn spawn_save_dialog(
    suggested_name: &str,
    on_done: impl FnOnce(Option<PathBuf>) + Send + 'static,
) -> Result<(), SceneFileError> {
    let suggested_name = suggested_name.to_owned();
    spawn_dialog(
        "gaze save-scene dialog",
        move || {
            rfd::AsyncFileDialog::new()
                .set_title("save the scene")
                .add_filter(SCENE_FILTER.0, SCENE_FILTER.1)
                .set_file_name(suggested_name)
                .save_file()
        },
        move |path| on_done(path.map(with_scene_extension)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::LoadNote;

    /// A fresh empty directory for one test.
    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("gaze-scene-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn edited() -> Scene {
        let mut scene = Scene {
            step: 4,
            ..Scene::default()
        };
        scene.attention.causal = true;
        scene.attention.sentence = "it is the best database".into();
        scene.context.level = 3;
        scene
            .context
            .set_document("faq.md", "Refunds take five days.".into());
        scene.rlhf.strength = 0.25;
        scene
    }

    #[test]
    fn a_saved_scene_reads_back_equal_with_no_notes() {
        let dir = scratch("round-trip");
        let path = dir.join("lesson.json");
        let scene = edited();
        write_scene_file(&path, &scene).unwrap();
        let opened = read_scene_file(&path).unwrap();
        assert_eq!(opened.scene, scene);
        assert!(opened.notes.is_empty(), "{:?}", opened.notes);
        let first = std::fs::read(&path).unwrap();
        write_scene_file(&path, &opened.scene).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            first,
            "saved again, byte for byte"
        );
        assert!(
            !temporary_path(&path).exists(),
            "no temporary file left behind"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn reading_names_the_file_and_what_is_wrong() {
        let dir = scratch("read-errors");
        let binary = dir.join("photo.json");
        std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x80]).unwrap();
        let message = read_scene_file(&binary).unwrap_err().to_string();
        assert!(
            message.contains("photo.json is not UTF-8 text"),
            "{message}"
        );
        let missing = read_scene_file(&dir.join("gone.json"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("photo.json"), "{message}");
        assert!(
            missing.starts_with("cannot read the scene file"),
            "{missing}"
        );
        let bad = dir.join("heads.json");
        std::fs::write(&bad, r#"{ "version": 1, "attention": { "heads": 3 } }"#).unwrap();
        let message = read_scene_file(&bad).unwrap_err().to_string();
        assert!(
            message.contains("heads.json") && message.contains("attention.heads"),
            "{message}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn reading_a_hand_written_file_reports_what_it_skipped() {
        let dir = scratch("notes");
        let path = dir.join("old.json");
        std::fs::write(
            &path,
            r#"{ "attention": { "causal": true, "colour": "red" } }"#,
        )
        .unwrap();
        let opened = read_scene_file(&path).unwrap();
        assert!(opened.scene.attention.causal);
        assert_eq!(
            opened.notes,
            [
                LoadNote::NoVersion,
                LoadNote::IgnoredField {
                    path: "attention.colour".into()
                }
            ]
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_failed_save_leaves_the_existing_file_intact() {
        let dir = scratch("failed-save");
        let path = dir.join("lesson.json");
        std::fs::write(&path, "the lecturer's scene").unwrap();
        // Something in the way of the temporary file (a folder of its name) makes the save fail
        // before the target is touched; this fails as root too, unlike a read-only folder.
        std::fs::create_dir(temporary_path(&path)).unwrap();
        let message = write_scene_file(&path, &edited()).unwrap_err().to_string();
        assert!(message.starts_with("cannot save the scene to"), "{message}");
        assert!(message.contains("lesson.json"), "{message}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "the lecturer's scene"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn saving_into_a_missing_folder_fails_and_creates_nothing() {
        let dir = scratch("missing-folder");
        let path = dir.join("no such folder").join("lesson.json");
        let message = write_scene_file(&path, &edited()).unwrap_err().to_string();
        assert!(message.contains("cannot save the scene to"), "{message}");
        assert!(!path.exists() && !dir.join("no such folder").exists());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_save_name_without_an_extension_gets_json() {
        assert_eq!(
            with_scene_extension(PathBuf::from("/tmp/lesson")),
            PathBuf::from("/tmp/lesson.json")
        );
        assert_eq!(
            with_scene_extension(PathBuf::from("/tmp/lesson.scene")),
            PathBuf::from("/tmp/lesson.scene")
        );
        assert_eq!(suggested_file_name(&edited()), "gaze_step4.json");
    }
}
