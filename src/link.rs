//! A scene as a link: the URL fragment the web build keeps in the address bar, so a copied link
//! reopens the same view. Pure Rust (tested natively); the web shell only reads and writes
//! `location.hash`.
//!
//! The fragment is `key=value` pairs joined by `&`, values percent-encoded:
//!
//! ```text
//! #step=2&sentence=the%20best%20database%20is&focus=3&heads=1&positions=none&causal=0
//!  &residual=0&prefer=postgresql&strength=0.5
//!  &corpus=the%20best%20database%20is:mongodb*5,postgresql*3;the%20best%20language%20is:python*4
//! ```
//!
//! `corpus` lists groups `prefix:ending*count,ending*count…` joined by `;`, in the corpus's row
//! order (ties go to the row listed first, so order is kept). Optional keys: `reward_chosen`,
//! `reward_winner` (when not the defaults), `edits` (the weight edits as JSON); step 4's `level`,
//! `review`, `question`, `budget`, `archive` and `examples` (as JSON), each only when it differs
//! from the lesson's default. A key this build
//! does not know is kept aside and reported, never an error, so links from newer builds still
//! open. The knowledge base's documents stay out of links: they can be megabytes.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

use crate::model::corpus::{Corpus, CorpusRow};
use crate::scene::{Scene, SceneError};

/// Characters escaped inside a value: the separators this format uses, plus what a URL fragment
/// may not hold literally.
const COMPONENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'*')
    .add(b'+')
    .add(b',')
    .add(b':')
    .add(b';')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

fn encode(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// The longest fragment read, in bytes: past what browsers keep in an address bar (~2 MB), so
/// only a pasted or generated one can be longer.
pub const MAX_FRAGMENT_BYTES: usize = 2 * 1024 * 1024;

/// Whether every `%` in `text` starts an escape of two hex digits. This format writes a literal
/// `%` as `%25`, so a bare one means the link was cut short or mangled.
fn escapes_are_whole(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    })
}

fn decode(key: &'static str, text: &str) -> Result<String, SceneError> {
    // `+` is a space in form encoding; this format writes `%20`, but accept both.
    let text = text.replace('+', " ");
    if !escapes_are_whole(&text) {
        return Err(invalid(
            key,
            &text,
            "percent-encoded text, each % followed by two hex digits (was the link cut short?)",
        ));
    }
    percent_decode_str(&text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| invalid(key, &text, "percent-encoded UTF-8 text"))
}

fn invalid(field: &'static str, value: &str, expected: &'static str) -> SceneError {
    SceneError::invalid(field, value, expected)
}

/// A JSON value of the link (`examples`, `edits`), its serde error turned into a message that
/// names the key and says what the value should be.
fn parse_json<T: serde::de::DeserializeOwned>(
    field: &'static str,
    value: &str,
    expected: &'static str,
) -> Result<T, SceneError> {
    let json = decode(field, value)?;
    serde_json::from_str(&json).map_err(|_| invalid(field, &json, expected))
}

fn flag(value: bool) -> &'static str {
    if value {
        "1"
    } else {
        "0"
    }
}

fn parse_flag(key: &'static str, value: &str) -> Result<bool, SceneError> {
    match value {
        "1" | "true" | "on" => Ok(true),
        "0" | "false" | "off" => Ok(false),
        _ => Err(invalid(key, value, "1 or 0")),
    }
}

fn parse_number<T: std::str::FromStr>(
    key: &'static str,
    value: &str,
    expected: &'static str,
) -> Result<T, SceneError> {
    value.parse().map_err(|_| invalid(key, value, expected))
}

/// The corpus as `prefix:ending*count,…;prefix:…`.
fn corpus_value(corpus: &Corpus) -> String {
    let mut out = String::new();
    let mut prefix: Option<&str> = None;
    for row in &corpus.rows {
        if prefix == Some(row.prefix.as_str()) {
            out.push(',');
        } else {
            if prefix.is_some() {
                out.push(';');
            }
            out.push_str(&encode(&row.prefix));
            out.push(':');
            prefix = Some(&row.prefix);
        }
        out.push_str(&encode(&row.ending));
        out.push('*');
        out.push_str(&row.count.to_string());
    }
    out
}

fn parse_corpus(value: &str) -> Result<Corpus, SceneError> {
    const KEY: &str = "corpus";
    const SHAPE: &str = "groups `prefix:ending*count,ending*count` joined by `;`";
    let mut rows = Vec::new();
    for group in value.split(';').filter(|g| !g.is_empty()) {
        let (prefix, endings) = group
            .split_once(':')
            .ok_or_else(|| invalid(KEY, group, SHAPE))?;
        let prefix = decode(KEY, prefix)?;
        for entry in endings.split(',').filter(|e| !e.is_empty()) {
            let (ending, count) = entry
                .split_once('*')
                .ok_or_else(|| invalid(KEY, entry, SHAPE))?;
            rows.push(CorpusRow {
                prefix: prefix.clone(),
                ending: decode(KEY, ending)?,
                count: parse_number(KEY, count, "a whole number of times, 0 or more")?,
            });
        }
    }
    Ok(Corpus { rows })
}

impl Scene {
    /// The scene as a URL fragment (without the `#`).
    pub fn to_fragment(&self) -> String {
        let a = &self.attention;
        let r = &self.rlhf;
        let mut pairs = vec![
            ("step", self.step.to_string()),
            ("sentence", encode(&a.sentence)),
            ("focus", a.focus.to_string()),
            ("heads", a.heads.to_string()),
            ("positions", a.positions.name().to_string()),
            ("causal", flag(a.causal).into()),
            ("residual", flag(a.residual_norm).into()),
            ("prefer", encode(&r.preferred)),
            ("strength", r.strength.to_string()),
            ("corpus", corpus_value(&self.corpus)),
        ];
        let defaults = crate::scene::RlhfScene::default();
        if r.reward_chosen != defaults.reward_chosen {
            pairs.push(("reward_chosen", r.reward_chosen.to_string()));
        }
        if r.reward_winner != defaults.reward_winner {
            pairs.push(("reward_winner", r.reward_winner.to_string()));
        }
        // Step 4's state, where it differs from the lesson's (documents stay out: see above).
        let c = &self.context;
        let d = crate::scene::ContextScene::default();
        if c.level != d.level {
            pairs.push(("level", c.level.to_string()));
        }
        if c.review != d.review {
            pairs.push(("review", encode(&c.review)));
        }
        if c.question != d.question {
            pairs.push(("question", encode(&c.question)));
        }
        if c.budget_tokens != d.budget_tokens {
            pairs.push(("budget", c.budget_tokens.to_string()));
        }
        if c.archive != d.archive {
            pairs.push(("archive", flag(c.archive).into()));
        }
        if c.examples != d.examples {
            // Serializing plain data cannot fail.
            let json = serde_json::to_string(&c.examples).unwrap_or_default();
            pairs.push(("examples", encode(&json)));
        }
        if !a.weight_edits.is_empty() {
            // Serializing plain data cannot fail.
            let json = serde_json::to_string(&a.weight_edits).unwrap_or_default();
            pairs.push(("edits", encode(&json)));
        }
        pairs
            .into_iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Reads a URL fragment (with or without the leading `#`). Missing keys take the lesson's
    /// defaults; the result is checked like a scene file. Returns the scene and the keys this
    /// build did not know (kept out, reported).
    pub fn from_fragment(fragment: &str) -> Result<(Scene, Vec<String>), SceneError> {
        if fragment.len() > MAX_FRAGMENT_BYTES {
            return Err(SceneError::invalid(
                "link",
                &format!("{} bytes long", fragment.len()),
                format!("a link of at most {MAX_FRAGMENT_BYTES} bytes (2 MiB)"),
            ));
        }
        let mut scene = Scene::default();
        let mut unknown = Vec::new();
        let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
        for pair in fragment.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let a = &mut scene.attention;
            let r = &mut scene.rlhf;
            match key {
                "step" => scene.step = parse_number("step", value, "a lesson step from 1 to 4")?,
                "sentence" => a.sentence = decode("attention.sentence", value)?,
                "focus" => {
                    a.focus = parse_number("attention.focus", value, "a token index")?;
                }
                "heads" => a.heads = parse_number("attention.heads", value, "1, 2 or 4")?,
                "positions" => {
                    a.positions = crate::model::positions::Positions::ALL
                        .into_iter()
                        .find(|p| p.name() == value)
                        .ok_or_else(|| {
                            invalid("attention.positions", value, "none, sinusoidal or rope")
                        })?;
                }
                "causal" => a.causal = parse_flag("attention.causal", value)?,
                "residual" => a.residual_norm = parse_flag("attention.residual_norm", value)?,
                "prefer" => r.preferred = decode("rlhf.preferred", value)?,
                "strength" => {
                    r.strength = parse_number("rlhf.strength", value, "a strength from 0 to 1")?;
                }
                "reward_chosen" => {
                    r.reward_chosen = parse_number("rlhf.reward_chosen", value, "a finite number")?;
                }
                "reward_winner" => {
                    r.reward_winner = parse_number("rlhf.reward_winner", value, "a finite number")?;
                }
                "corpus" => scene.corpus = parse_corpus(value)?,
                "level" => {
                    scene.context.level = parse_number("context.level", value, "1, 2 or 3")?;
                }
                "review" => scene.context.review = decode("context.review", value)?,
                "question" => scene.context.question = decode("context.question", value)?,
                "budget" => {
                    scene.context.budget_tokens =
                        parse_number("context.budget_tokens", value, "a budget in tokens")?;
                }
                "archive" => scene.context.archive = parse_flag("context.archive", value)?,
                "examples" => {
                    scene.context.examples = parse_json(
                        "context.examples",
                        value,
                        "a JSON list of examples, [{\"text\": \"loved it\", \"label\": \"positive\"}]",
                    )?;
                }
                "edits" => {
                    a.weight_edits = parse_json(
                        "attention.weight_edits",
                        value,
                        "a JSON list of weight edits, [{\"head\": 0, \"matrix\": \"w_k\", \
                         \"feature\": …, \"dim\": …, \"value\": 1.5}]",
                    )?;
                }
                // Reported, never fatal: a newer build's key. Shown as best it can be read.
                other => unknown.push(
                    String::from_utf8_lossy(&percent_decode_str(other).collect::<Vec<u8>>())
                        .into_owned(),
                ),
            }
        }
        scene.validate()?;
        Ok((scene, unknown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::lesson::{Projection, WeightEdit};
    use crate::model::positions::Positions;

    fn edited_scene() -> Scene {
        let mut scene = Scene {
            step: 2,
            ..Scene::default()
        };
        scene.attention.sentence = "the best database, for me: is \"postgres\" & co #1".into();
        scene.attention.focus = 2;
        scene.attention.heads = 4;
        scene.attention.positions = Positions::Rope;
        scene.attention.causal = true;
        scene.attention.residual_norm = true;
        scene.attention.weight_edits.push(WeightEdit {
            head: 1,
            matrix: Projection::WK,
            feature: "software & data".into(),
            dim: "topic".into(),
            value: -0.25,
        });
        scene.rlhf.preferred = "sqlite".into();
        scene.rlhf.strength = 0.875;
        scene.rlhf.reward_winner = -2.5;
        scene
            .corpus
            .add_row("the best language is", "c++", 4)
            .unwrap();
        scene
            .corpus
            .add_row("the best database is", "duck;db:*,", 10)
            .unwrap();
        scene
    }

    #[test]
    fn a_link_reopens_the_same_scene() {
        let scene = edited_scene();
        let fragment = scene.to_fragment();
        let (back, unknown) = Scene::from_fragment(&format!("#{fragment}")).unwrap();
        assert_eq!(back, scene);
        assert!(unknown.is_empty());
        // Nothing in the fragment needs further escaping by the browser.
        assert!(!fragment.contains(' ') && !fragment.contains('#') && !fragment.contains('"'));
    }

    #[test]
    fn the_default_scene_reads_as_a_short_plain_link() {
        let fragment = Scene::default().to_fragment();
        assert!(fragment.starts_with("step=3&sentence=the%20best%20database%20is&focus=3"));
        assert!(fragment
            .contains("corpus=the%20best%20database%20is:mongodb*5,postgresql*3,mysql*2,sqlite*1"));
        assert!(!fragment.contains("edits"), "{fragment}");
    }

    #[test]
    fn a_hand_written_link_takes_defaults_for_what_it_leaves_out() {
        let (scene, _) = Scene::from_fragment("step=2&strength=1&prefer=sqlite").unwrap();
        assert_eq!(scene.step, 2);
        assert_eq!(scene.rlhf.strength, 1.0);
        assert_eq!(scene.rlhf.preferred, "sqlite");
        assert_eq!(scene.corpus, Corpus::default());
        assert_eq!(scene.attention, crate::scene::AttentionScene::default());
        let (spaced, _) = Scene::from_fragment("sentence=the+best+language+is").unwrap();
        assert_eq!(spaced.attention.sentence, "the best language is");
        assert_eq!(Scene::from_fragment("").unwrap().0, Scene::default());
    }

    #[test]
    fn bad_links_say_which_field_is_wrong() {
        let message = |f: &str| Scene::from_fragment(f).unwrap_err().to_string();
        assert!(message("step=9").contains("step"));
        assert!(message("heads=3").contains("attention.heads"));
        assert!(message("strength=1.5").contains("rlhf.strength"));
        assert!(message("strength=lots").contains("rlhf.strength"));
        assert!(message("causal=maybe").contains("attention.causal"));
        assert!(message("positions=alibi").contains("alibi"));
        assert!(message("corpus=the%20best:mongodb*-1").contains("corpus"));
        assert!(message("corpus=mongodb*5").contains("corpus"));
        assert!(message("sentence=%FF").contains("attention.sentence"));
    }

    #[test]
    fn step_four_state_travels_in_the_link() {
        let mut scene = Scene {
            step: 4,
            ..Scene::default()
        };
        scene.context.level = 3;
        scene.context.question = "late delivery & refunds?".into();
        scene.context.budget_tokens = 4000;
        scene.context.archive = false;
        scene.context.examples[2].label = "positive".into();
        scene.context.review = "meh = fine".into();
        let (back, unknown) = Scene::from_fragment(&scene.to_fragment()).unwrap();
        assert!(unknown.is_empty());
        assert_eq!(back, scene);
        let message = |f: &str| Scene::from_fragment(f).unwrap_err().to_string();
        assert!(message("level=5").contains("context.level"));
        assert!(message("budget=99999").contains("context.budget_tokens"));
    }

    #[test]
    fn keys_from_newer_builds_are_reported_not_fatal() {
        let (scene, unknown) = Scene::from_fragment("step=1&zoom=2&theme=dark").unwrap();
        assert_eq!(scene.step, 1);
        assert_eq!(unknown, ["zoom", "theme"]);
    }
}
