//! Validation: every field of a [`Scene`] against its range and the limits the app edits within
//! (each named in `docs/inputs.md`). Weight edits are checked against a model's
//! [`LessonShape`] — the names of its features and dimensions and how many heads it has — never
//! against a model file: [`Scene::validate`] uses the shipped lesson model's shape, read once per
//! process ([`curated_shape`]); [`Scene::validate_against`] takes any other.

use super::{
    Scene, SceneError, SceneModel, COUNT_RANGE, HEAD_CHOICES, MAX_DOCUMENTS, MAX_DOCUMENT_BYTES,
    MAX_KNOWLEDGE_BASE_BYTES,
};
use crate::model::context::{Level, ARCHIVE_NAME, MAX_CONTEXT_TOKENS, MAX_EXAMPLES};
use crate::model::corpus::{CorpusError, MAX_ENDING_CHARS};
use crate::model::lesson::{curated_shape, LessonError, LessonShape, MAX_EDITED_WEIGHT};
use crate::model::rlhf::MAX_REWARD;
use crate::model::tokenizer::MAX_LINE_CHARS;

/// The bound on `attention.layer` and `attention.head` before a model is known (SmolLM2 has 30
/// layers of 9 heads; the largest open models have ~128 of each).
pub const MAX_LAYER_OR_HEAD: usize = 1024;

impl Scene {
    /// Checks every field against its range and the limits the app edits within (each named
    /// in docs/inputs.md), naming the first that is out of it. A scene that passes opens, saves
    /// and reopens unchanged. Weight edits are checked against the shipped lesson model's shape
    /// ([`curated_shape`], read once per process); should that model not load, against the
    /// head count and weight range only.
    pub fn validate(&self) -> Result<(), SceneError> {
        self.validate_with(curated_shape())
    }

    /// Validates a scene for a model of this shape: as [`Scene::validate`], but its weight edits
    /// must name one of `shape`'s heads, features and dimensions.
    pub fn validate_against(&self, shape: &LessonShape) -> Result<(), SceneError> {
        self.validate_with(Some(shape))
    }

    /// Validation, the weight edits' names checked against `shape` when there is one.
    fn validate_with(&self, shape: Option<&LessonShape>) -> Result<(), SceneError> {
        let scene = self;
        if !(1..=4).contains(&scene.step) {
            return Err(SceneError::invalid(
                "step",
                &scene.step.to_string(),
                "a lesson step from 1 to 4",
            ));
        }
        self.validate_model()?;
        self.validate_corpus_and_rlhf()?;
        self.validate_attention(shape)?;
        self.validate_context()
    }

    fn validate_corpus_and_rlhf(&self) -> Result<(), SceneError> {
        let corpus = &self.corpus;
        if let Err(problem) = corpus.check() {
            let row = corpus.rows.get(problem.row);
            let (value, expected) = match (problem.field, &problem.error) {
                ("count", _) => (
                    row.map(|r| r.count.to_string()).unwrap_or_default(),
                    COUNT_RANGE.to_owned(),
                ),
                (_, CorpusError::TooManyRows) => (
                    format!("{} rows", corpus.rows.len()),
                    problem.error.to_string(),
                ),
                ("ending", _) => (
                    row.map(|r| format!("{:?}", r.ending)).unwrap_or_default(),
                    problem.error.to_string(),
                ),
                _ => (
                    row.map(|r| format!("{:?}", r.prefix)).unwrap_or_default(),
                    problem.error.to_string(),
                ),
            };
            let field = if matches!(problem.error, CorpusError::TooManyRows) {
                "corpus.rows".to_owned()
            } else {
                format!("corpus.rows[{}].{}", problem.row, problem.field)
            };
            return Err(SceneError::invalid(field, &value, expected));
        }
        let rlhf = &self.rlhf;
        if !(0.0..=1.0).contains(&rlhf.strength) {
            // Debug, not Display: 1e308 prints as 1e308, not 309 digits.
            return Err(SceneError::invalid(
                "rlhf.strength",
                &format!("{:?}", rlhf.strength),
                "a strength from 0 to 1",
            ));
        }
        for (field, value) in [
            ("rlhf.reward_chosen", rlhf.reward_chosen),
            ("rlhf.reward_winner", rlhf.reward_winner),
        ] {
            if !(value.is_finite() && value.abs() <= MAX_REWARD) {
                return Err(SceneError::invalid(
                    field,
                    &format!("{value:?}"),
                    "a reward from -100 to 100",
                ));
            }
        }
        let chars = rlhf.preferred.chars().count();
        if chars > MAX_ENDING_CHARS {
            return Err(SceneError::invalid(
                "rlhf.preferred",
                &format!("{:?}", rlhf.preferred),
                format!("an ending of at most {MAX_ENDING_CHARS} characters (this is {chars})"),
            ));
        }
        Ok(())
    }

    fn validate_model(&self) -> Result<(), SceneError> {
        let SceneModel::File(file) = &self.model else {
            return Ok(());
        };
        if file.file.is_empty() || file.file.len() > 255 || file.file.contains(['/', '\\']) {
            return Err(SceneError::invalid(
                "model.file",
                &format!("{:?}", file.file),
                "a file name of 1 to 255 bytes, without a directory",
            ));
        }
        let hex = file.sha256.len() == 64
            && file
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex {
            return Err(SceneError::invalid(
                "model.sha256",
                &format!("{:?}", file.sha256),
                "the file's SHA-256: 64 lowercase hexadecimal digits",
            ));
        }
        Ok(())
    }

    fn validate_attention(&self, shape: Option<&LessonShape>) -> Result<(), SceneError> {
        let attention = &self.attention;
        if !HEAD_CHOICES.contains(&attention.heads) {
            return Err(SceneError::invalid(
                "attention.heads",
                &attention.heads.to_string(),
                "1, 2 or 4",
            ));
        }
        // Which layer and head of a real model: checked against the model when one is loaded
        // (the app and `gaze inspect` name the model's own counts); here only a sane bound.
        for (field, value) in [
            ("attention.layer", attention.layer),
            ("attention.head", attention.head),
        ] {
            if value >= MAX_LAYER_OR_HEAD {
                return Err(SceneError::invalid(
                    field,
                    &value.to_string(),
                    format!("an index from 0 to {}", MAX_LAYER_OR_HEAD - 1),
                ));
            }
        }
        // An empty sentence opens (step 3 says it has no words); one too long to compute is
        // refused here, so a scene never opens onto a sentence the lesson refuses to draw.
        if let Err(
            error @ (LessonError::SentenceTooLong { .. } | LessonError::TooManyTokens { .. }),
        ) = crate::model::lesson::sentence_tokens(&attention.sentence)
        {
            return Err(SceneError::invalid(
                "attention.sentence",
                &format!("{:?}", attention.sentence),
                error.to_string(),
            ));
        }
        if attention.weight_edits.is_empty() {
            return Ok(());
        }
        // Edits name a head of the model's (without a shape, one the app can show), and a
        // feature and a dimension of its shape.
        let most_heads = match shape {
            Some(shape) => shape.heads,
            None => HEAD_CHOICES.iter().copied().max().unwrap_or(1),
        };
        for (index, edit) in attention.weight_edits.iter().enumerate() {
            let field = |name: &str| format!("attention.weight_edits[{index}].{name}");
            if edit.head >= most_heads {
                return Err(SceneError::invalid(
                    field("head"),
                    &edit.head.to_string(),
                    match most_heads.checked_sub(1) {
                        Some(last) => format!("a head index from 0 to {last}"),
                        None => "no head index: the model has no heads".to_owned(),
                    },
                ));
            }
            if !(edit.value.is_finite() && edit.value.abs() <= MAX_EDITED_WEIGHT) {
                return Err(SceneError::invalid(
                    field("value"),
                    &format!("{:?}", edit.value),
                    "a weight from -10 to 10",
                ));
            }
            let Some(shape) = shape else {
                continue;
            };
            let names = |list: &[String]| list.join(", ");
            if !shape.features.contains(&edit.feature) {
                return Err(SceneError::invalid(
                    field("feature"),
                    &format!("{:?}", edit.feature),
                    format!(
                        "one of the lesson model's features: {}",
                        names(&shape.features)
                    ),
                ));
            }
            let dims = shape.dims(edit.matrix);
            if !dims.contains(&edit.dim) {
                return Err(SceneError::invalid(
                    field("dim"),
                    &format!("{:?}", edit.dim),
                    format!(
                        "one of {}'s dimensions: {}",
                        edit.matrix.name(),
                        names(dims)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_context(&self) -> Result<(), SceneError> {
        let context = &self.context;
        if Level::from_number(context.level).is_none() {
            return Err(SceneError::invalid(
                "context.level",
                &context.level.to_string(),
                "1 (self-attention), 2 (in-context learning) or 3 (RAG)",
            ));
        }
        if !(1..=MAX_CONTEXT_TOKENS).contains(&context.budget_tokens) {
            return Err(SceneError::invalid(
                "context.budget_tokens",
                &context.budget_tokens.to_string(),
                "a budget from 1 to 16384 tokens",
            ));
        }
        let line = |field: String, text: &str| {
            let chars = text.chars().count();
            if chars > MAX_LINE_CHARS {
                return Err(SceneError::invalid(
                    field,
                    &format!("{text:?}"),
                    format!("text of at most {MAX_LINE_CHARS} characters (this is {chars})"),
                ));
            }
            Ok(())
        };
        line("context.review".into(), &context.review)?;
        line("context.question".into(), &context.question)?;
        if context.examples.len() > MAX_EXAMPLES {
            return Err(SceneError::invalid(
                "context.examples",
                &format!("{} examples", context.examples.len()),
                format!("at most {MAX_EXAMPLES} examples"),
            ));
        }
        for (index, example) in context.examples.iter().enumerate() {
            line(format!("context.examples[{index}].text"), &example.text)?;
            line(format!("context.examples[{index}].label"), &example.label)?;
        }
        let documents = &context.documents;
        if documents.len() > MAX_DOCUMENTS {
            return Err(SceneError::invalid(
                "context.documents",
                &format!("{} documents", documents.len()),
                format!("at most {MAX_DOCUMENTS} documents"),
            ));
        }
        let mut total = 0usize;
        for (index, document) in documents.iter().enumerate() {
            let field = |name: &str| format!("context.documents[{index}].{name}");
            let bytes = document.text.len();
            if bytes > MAX_DOCUMENT_BYTES {
                return Err(SceneError::invalid(
                    field("text"),
                    &format!("{bytes} bytes"),
                    format!("a document of at most {MAX_DOCUMENT_BYTES} bytes (2 MiB)"),
                ));
            }
            total = total.saturating_add(bytes);
            if total > MAX_KNOWLEDGE_BASE_BYTES {
                return Err(SceneError::invalid(
                    "context.documents",
                    &format!("{total} bytes by document {}", index + 1),
                    format!(
                        "documents of at most {MAX_KNOWLEDGE_BASE_BYTES} bytes (16 MiB) in all"
                    ),
                ));
            }
            let taken = document.name == ARCHIVE_NAME
                || documents
                    .iter()
                    .take(index)
                    .any(|earlier| earlier.name == document.name);
            if taken {
                return Err(SceneError::invalid(
                    field("name"),
                    &format!("{:?}", document.name),
                    "a name no other document has (the knowledge base finds documents by name)",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::lesson::{Projection, WeightEdit};

    #[test]
    fn corpus_and_rlhf_sections_are_read_and_checked() {
        let scene = Scene::from_json(
            r#"{ "version": 1, "corpus": { "rows": [ { "prefix": "p", "ending": "x", "count": 2 } ] },
                 "rlhf": { "preferred": "x", "strength": 1.0 } }"#,
        )
        .unwrap();
        assert_eq!(scene.corpus.rows[0].count, 2);
        assert_eq!(scene.rlhf.preferred, "x");
        let message = |text: &str| Scene::from_json(text).unwrap_err().to_string();
        assert!(message(r#"{ "version": 1, "rlhf": { "strength": 2 } }"#).contains("rlhf.strength"));
        let negative = r#"{ "version": 1, "corpus": { "rows": [ { "prefix": "p", "ending": "x", "count": -1 } ] } }"#;
        assert_eq!(
            message(negative),
            "the scene's \"corpus.rows[0].count\" is -1: a whole number from 0 to 1000000000"
        );
        let fraction = r#"{ "version": 1, "corpus": { "rows": [ { "prefix": "p", "ending": "x", "count": 1.5 } ] } }"#;
        assert!(message(fraction).contains("\"corpus.rows[0].count\" is 1.5"));
    }

    /// A scene whose one weight edit is `head`'s `matrix[feature][dim]`.
    fn edited(head: usize, matrix: Projection, feature: &str, dim: &str) -> Scene {
        let mut scene = Scene::default();
        scene.attention.weight_edits.push(WeightEdit {
            head,
            matrix,
            feature: feature.into(),
            dim: dim.into(),
            value: 0.5,
        });
        scene
    }

    #[test]
    fn validation_reads_the_lesson_model_once_and_asks_only_its_shape() {
        let shape = curated_shape().unwrap();
        assert!(
            std::ptr::eq(shape, curated_shape().unwrap()),
            "one shape for the process: the lesson file is not parsed per validation"
        );
        for scene in [
            edited(1, Projection::WK, "quality", "description"),
            edited(3, Projection::WV, "thing", "sentiment"),
        ] {
            scene.validate().unwrap();
            scene.validate_against(shape).unwrap();
        }
        for scene in [
            edited(4, Projection::WQ, "thing", "subject"),
            edited(0, Projection::WQ, "colour", "subject"),
            edited(0, Projection::WV, "thing", "subject"),
        ] {
            assert_eq!(
                scene.validate().unwrap_err().to_string(),
                scene.validate_against(shape).unwrap_err().to_string(),
                "validate is validate_against the curated shape"
            );
        }
    }

    #[test]
    fn weight_edits_are_checked_against_the_shape_given() {
        let other = LessonShape {
            features: vec!["colour".into(), "size".into()],
            head_dims: vec!["near".into()],
            value_dims: vec!["far".into()],
            heads: 2,
        };
        let curated_names = edited(1, Projection::WK, "quality", "description");
        curated_names.validate().unwrap();
        assert_eq!(
            curated_names
                .validate_against(&other)
                .unwrap_err()
                .to_string(),
            "the scene's \"attention.weight_edits[0].feature\" is \"quality\": one of the lesson \
             model's features: colour, size"
        );
        let other_names = edited(1, Projection::WK, "colour", "near");
        other_names.validate_against(&other).unwrap();
        assert!(
            other_names.validate().is_err(),
            "not the lesson model's names"
        );
        edited(0, Projection::WV, "size", "far")
            .validate_against(&other)
            .unwrap();
        assert_eq!(
            edited(0, Projection::WV, "size", "near")
                .validate_against(&other)
                .unwrap_err()
                .to_string(),
            "the scene's \"attention.weight_edits[0].dim\" is \"near\": one of W_V's dimensions: far"
        );
        let third_head = edited(2, Projection::WQ, "colour", "near");
        assert_eq!(
            third_head.validate_against(&other).unwrap_err().to_string(),
            "the scene's \"attention.weight_edits[0].head\" is 2: a head index from 0 to 1"
        );
        assert!(
            edited(2, Projection::WQ, "thing", "subject")
                .validate()
                .is_ok(),
            "the lesson model has four heads"
        );
    }
}
