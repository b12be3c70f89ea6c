//! Every shader parses and validates as the GPU receives it — its file in `shaders/` joined with
//! the shared pieces in `shaders/shared/` it names on its first line — agrees with the Rust side
//! on the types and constants they share, and is joined with exactly the pieces whose names it
//! uses.

use std::collections::BTreeSet;
use std::mem::{offset_of, size_of};
use std::path::{Path, PathBuf};

use gaze::model::attention::{AttentionParams, LANES};
use gaze::render::arcs::ArcsUniform;
use gaze::render::heatmap::HeatmapUniform;

/// Every shader's source as the Rust side hands it to wgpu (file, shared pieces joined), by the
/// name of its file in `shaders/`.
fn shader_files() -> Vec<(String, String)> {
    use gaze::gpu::{attention, llm, overview, training};
    use gaze::render::{arcs, heatmap};
    let mut files: Vec<(String, String)> = [
        ("arcs.wgsl", arcs::ARCS_WGSL),
        ("arcs_ease.wgsl", arcs::ARCS_EASE_WGSL),
        ("attention_output.wgsl", attention::OUTPUT_WGSL),
        ("attention_project.wgsl", attention::PROJECT_WGSL),
        ("attention_scores.wgsl", attention::SCORES_WGSL),
        ("attention_softmax.wgsl", attention::SOFTMAX_WGSL),
        ("chunk_masses.wgsl", overview::CHUNK_MASSES_WGSL),
        ("heatmap.wgsl", heatmap::HEATMAP_WGSL),
        ("llm_attention.wgsl", llm::ATTENTION_WGSL),
        ("llm_attention_map.wgsl", llm::ATTENTION_MAP_WGSL),
        ("llm_matmul.wgsl", llm::MATMUL_WGSL),
        ("llm_overview.wgsl", llm::OVERVIEW_WGSL),
        ("llm_rms_norm.wgsl", llm::RMS_NORM_WGSL),
        ("llm_rope.wgsl", llm::ROPE_WGSL),
        ("llm_swiglu.wgsl", llm::SWIGLU_WGSL),
        ("llm_top_k.wgsl", llm::TOP_K_WGSL),
        ("overview_bins.wgsl", overview::BINS_WGSL),
        ("overview_row_stats.wgsl", overview::ROW_STATS_WGSL),
        ("rlhf_finetune.wgsl", training::FINE_TUNE_WGSL),
        ("train_output_layer.wgsl", training::TRAIN_WGSL),
    ]
    .into_iter()
    .map(|(name, source)| (name.to_owned(), source.to_owned()))
    .collect();
    files.sort();
    files
}

/// The `.wgsl` files directly in `dir`, as (file name, text), sorted by name.
fn wgsl_files_in(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "wgsl"))
        .map(|path| {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let source = std::fs::read_to_string(&path).expect("shader is readable UTF-8");
            (name, source)
        })
        .collect();
    files.sort();
    files
}

fn shaders_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("shaders")
}

/// The files in `shaders/` as written, each alone (most do not parse without their pieces).
fn bare_files() -> Vec<(String, String)> {
    wgsl_files_in(&shaders_dir())
}

/// The shared pieces in `shaders/shared/`, by file name.
fn shared_pieces() -> Vec<(String, String)> {
    wgsl_files_in(&shaders_dir().join("shared"))
}

/// The shared pieces a shader file names on its first line, in order:
/// `// Joined with shared/{a, b}.wgsl in …` or `// Joined with shared/a.wgsl in …`.
fn named_pieces(source: &str) -> Vec<String> {
    let first = source.lines().next().unwrap_or_default();
    let Some(rest) = first.strip_prefix("// Joined with shared/") else {
        return Vec::new();
    };
    let list = rest.split(".wgsl").next().unwrap_or_default();
    let list = list.trim_start_matches('{').trim_end_matches('}');
    list.split(',')
        .map(|p| format!("{}.wgsl", p.trim()))
        .collect()
}

/// `source` without its `//` comments.
fn code(source: &str) -> String {
    source
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The identifiers `source`'s code mentions.
fn identifiers(source: &str) -> BTreeSet<String> {
    code(source)
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
        .map(str::to_owned)
        .collect()
}

/// The names `source` declares at module scope (`struct`, `fn`, `const`, `override`, `alias`,
/// `var`), each written at the start of a line as in every shader here.
fn declarations(source: &str) -> Vec<String> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut names = Vec::new();
    for line in code(source).lines() {
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        // Drop attributes such as `@group(0) @binding(1)` and `@workgroup_size(8, 8)`.
        let mut rest = line.trim_end();
        while let Some(after) = rest.strip_prefix('@') {
            let after = after.trim_start_matches(is_ident);
            let after = match after.strip_prefix('(') {
                Some(args) => args.split_once(')').map_or("", |(_, tail)| tail),
                None => after,
            };
            rest = after.trim_start();
        }
        let (keyword, tail) =
            rest.split_at(rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len()));
        if !["struct", "fn", "const", "override", "alias", "var"].contains(&keyword) {
            continue;
        }
        let mut tail = tail.trim_start();
        // `var<storage, read>`: skip the address space and access mode.
        if keyword == "var" && tail.starts_with('<') {
            tail = tail
                .split_once('>')
                .map_or("", |(_, after)| after.trim_start());
        }
        let name: String = tail.chars().take_while(|c| is_ident(*c)).collect();
        if !name.is_empty() {
            names.push(name);
        }
    }
    names
}

fn parse(name: &str, source: &str) -> naga::Module {
    naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)))
}

#[test]
fn every_shader_parses_and_validates() {
    let files = shader_files();
    assert!(
        files.len() >= 4,
        "expected the four attention kernels, found {files:?}"
    );
    for (name, source) in &files {
        let module = parse(name, source);
        // `unpack2x16float` (the f16 scales of GGUF blocks) is core WGSL; naga files it under a
        // capability that wgpu grants on every backend with compute shaders.
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default()
                | naga::valid::Capabilities::SHADER_FLOAT16_IN_FLOAT32,
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name} does not validate: {}", e.emit_to_string(source)));
    }
}

#[test]
fn attention_params_layout_matches_every_shader() {
    let rust_offsets = [
        offset_of!(AttentionParams, n_tokens),
        offset_of!(AttentionParams, d_model),
        offset_of!(AttentionParams, d_k),
        offset_of!(AttentionParams, n_heads),
        offset_of!(AttentionParams, query_start),
        offset_of!(AttentionParams, query_count),
        offset_of!(AttentionParams, causal),
        offset_of!(AttentionParams, positions),
        offset_of!(AttentionParams, use_key_mask),
        offset_of!(AttentionParams, scale),
        offset_of!(AttentionParams, pad0),
        offset_of!(AttentionParams, pad1),
    ];
    let mut checked = 0;
    for (name, source) in shader_files() {
        let module = parse(&name, &source);
        for (_, ty) in module.types.iter() {
            if ty.name.as_deref() != Some("AttentionParams") {
                continue;
            }
            let naga::TypeInner::Struct { members, span } = &ty.inner else {
                panic!("{name}: AttentionParams is not a struct");
            };
            assert_eq!(*span as usize, size_of::<AttentionParams>(), "{name}: size");
            let names: Vec<&str> = members
                .iter()
                .map(|m| m.name.as_deref().unwrap_or(""))
                .collect();
            assert_eq!(names, AttentionParams::FIELDS, "{name}: field names");
            let offsets: Vec<usize> = members.iter().map(|m| m.offset as usize).collect();
            assert_eq!(offsets, rust_offsets, "{name}: field offsets");
            checked += 1;
        }
    }
    assert_eq!(
        checked, 6,
        "every attention kernel and both overview kernels are joined with AttentionParams"
    );
}

#[test]
fn workgroup_lanes_match_the_cpu_twins() {
    let mut checked = 0;
    for (name, source) in shader_files() {
        let module = parse(&name, &source);
        for (_, constant) in module.constants.iter() {
            if constant.name.as_deref() != Some("LANES") {
                continue;
            }
            // The training kernels reduce over one small workgroup; the attention kernels over 256.
            let twin = if name.starts_with("train_") || name.starts_with("rlhf_") {
                gaze::model::train::LANES
            } else if name == "llm_top_k.wgsl" {
                gaze::model::llm::forward::TOP_K_LANES
            } else if name.starts_with("llm_") {
                gaze::gpu::llm::LANES
            } else {
                LANES
            };
            match module.global_expressions[constant.init] {
                naga::Expression::Literal(naga::Literal::U32(lanes)) => {
                    assert_eq!(lanes as usize, twin, "{name}: LANES")
                }
                ref other => panic!("{name}: LANES is {other:?}"),
            }
            checked += 1;
        }
    }
    assert_eq!(
        checked, 12,
        "softmax, output, arc-easing, training, fine-tune, overview and chunk-mass kernels \
         and the LLM's RMSNorm, attention, map and top-k kernels declare LANES"
    );
}

#[test]
fn training_params_layouts_match_their_shaders() {
    use gaze::model::finetune::FineTuneParams;
    use gaze::model::train::TrainParams;
    let train = [
        ("prefixes", offset_of!(TrainParams, prefixes)),
        ("vocabulary", offset_of!(TrainParams, vocabulary)),
        ("features", offset_of!(TrainParams, features)),
        ("max_steps", offset_of!(TrainParams, max_steps)),
        ("learning_rate", offset_of!(TrainParams, learning_rate)),
        ("pad0", offset_of!(TrainParams, pad)),
        ("pad1", offset_of!(TrainParams, pad) + 4),
        ("pad2", offset_of!(TrainParams, pad) + 8),
    ];
    assert_eq!(
        check_struct("TrainParams", &train, size_of::<TrainParams>()),
        1
    );
    let fine_tune = [
        ("vocabulary", offset_of!(FineTuneParams, vocabulary)),
        ("max_steps", offset_of!(FineTuneParams, max_steps)),
        ("strength", offset_of!(FineTuneParams, strength)),
        ("learning_rate", offset_of!(FineTuneParams, learning_rate)),
    ];
    assert_eq!(
        check_struct("FineTuneParams", &fine_tune, size_of::<FineTuneParams>()),
        1
    );
    use gaze::model::overview::OverviewParams;
    let overview = [
        ("bins", offset_of!(OverviewParams, bins)),
        ("row_offset", offset_of!(OverviewParams, row_offset)),
        ("pad1", offset_of!(OverviewParams, pad)),
        ("pad2", offset_of!(OverviewParams, pad) + 4),
    ];
    // Both overview passes read it.
    assert_eq!(
        check_struct("OverviewParams", &overview, size_of::<OverviewParams>()),
        2
    );
}

/// Checks that every shader declaring `struct {name}` lays it out as Rust does: the same field
/// names at the same offsets and the same size. Returns how many shaders declare it.
fn check_struct(name: &str, fields: &[(&str, usize)], size: usize) -> usize {
    let mut checked = 0;
    for (file, source) in shader_files() {
        let module = parse(&file, &source);
        for (_, ty) in module.types.iter() {
            if ty.name.as_deref() != Some(name) {
                continue;
            }
            let naga::TypeInner::Struct { members, span } = &ty.inner else {
                panic!("{file}: {name} is not a struct");
            };
            let found: Vec<(&str, usize)> = members
                .iter()
                .map(|m| (m.name.as_deref().unwrap_or(""), m.offset as usize))
                .collect();
            assert_eq!(found, fields, "{file}: {name} fields and offsets");
            assert_eq!(*span as usize, size, "{file}: {name} size");
            checked += 1;
        }
    }
    checked
}

#[test]
fn render_uniforms_match_their_shader_structs() {
    let heatmap = [
        ("n_tokens", offset_of!(HeatmapUniform, n_tokens)),
        ("rows", offset_of!(HeatmapUniform, rows)),
        ("pad3", offset_of!(HeatmapUniform, pad3)),
        ("srgb_target", offset_of!(HeatmapUniform, srgb_target)),
        ("gap", offset_of!(HeatmapUniform, gap)),
        ("range_lo", offset_of!(HeatmapUniform, range_lo)),
        ("range_hi", offset_of!(HeatmapUniform, range_hi)),
        ("pad2", offset_of!(HeatmapUniform, pad2)),
    ];
    assert_eq!(
        check_struct("Heatmap", &heatmap, size_of::<HeatmapUniform>()),
        1
    );
    let arcs = [
        ("n_tokens", offset_of!(ArcsUniform, n_tokens)),
        ("rows", offset_of!(ArcsUniform, rows)),
        ("focus_row", offset_of!(ArcsUniform, focus_row)),
        ("snap", offset_of!(ArcsUniform, snap)),
        ("dt", offset_of!(ArcsUniform, dt)),
        ("tau", offset_of!(ArcsUniform, tau)),
        ("particle_speed", offset_of!(ArcsUniform, particle_speed)),
        ("heads", offset_of!(ArcsUniform, heads)),
        ("viewport", offset_of!(ArcsUniform, viewport)),
        ("max_thickness", offset_of!(ArcsUniform, max_thickness)),
        ("focus", offset_of!(ArcsUniform, focus)),
    ];
    assert_eq!(
        check_struct("Arcs", &arcs, size_of::<ArcsUniform>()),
        2,
        "arcs.wgsl and arcs_ease.wgsl"
    );
}

/// Decimal float literals in `source` outside comments, as written (a `-` sign is not part of a
/// literal).
fn float_literals(source: &str) -> Vec<String> {
    let code: String = source
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let source = code.as_str();
    let bytes = source.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_number = bytes[i].is_ascii_digit()
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'));
        if !starts_number {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len()
            && (bytes[i].is_ascii_alphanumeric()
                || bytes[i] == b'.'
                || ((bytes[i] == b'-' || bytes[i] == b'+') && matches!(bytes[i - 1], b'e' | b'E')))
        {
            i += 1;
        }
        let literal = &source[start..i];
        if literal.contains(['.', 'e', 'E']) && !literal.starts_with("0x") {
            found.push(literal.trim_end_matches('f').to_owned());
        }
    }
    found
}

/// Chrome's WGSL compiler (Tint) reads a literal as an abstract float and refuses one that does
/// not fit in f32 — `-3.40282347e38` parses in naga but kills the softmax kernel in the browser.
#[test]
fn every_float_literal_fits_in_f32_as_browsers_require() {
    let mut checked = 0;
    for (name, source) in shader_files() {
        for literal in float_literals(&source) {
            let value: f64 = literal
                .parse()
                .unwrap_or_else(|e| panic!("{name}: `{literal}` is not a number: {e}"));
            assert!(
                value.abs() <= f64::from(f32::MAX),
                "{name}: `{literal}` is outside the f32 range; Tint (Chrome) refuses it"
            );
            checked += 1;
        }
    }
    assert!(
        checked > 10,
        "the literal scanner found only {checked} literals"
    );
    assert_eq!(
        float_literals("const X: f32 = -3.40282347e38; let y = 1.5f * a2.0;"),
        ["3.40282347e38", "1.5"]
    );
    assert!(
        3.402_823_47e38_f64 > f64::from(f32::MAX),
        "the trap this test guards"
    );
}

/// The offsets of struct `name` in every shader that declares it, against `rust` (name, offset)
/// pairs and size; returns how many shaders declared it.
fn check_struct_layout(name: &str, rust: &[(&str, usize)], size: usize) -> usize {
    let mut checked = 0;
    for (file, source) in shader_files() {
        let module = parse(&file, &source);
        for (_, ty) in module.types.iter() {
            if ty.name.as_deref() != Some(name) {
                continue;
            }
            let naga::TypeInner::Struct { members, span } = &ty.inner else {
                panic!("{file}: {name} is not a struct");
            };
            assert_eq!(*span as usize, size, "{file}: size of {name}");
            assert_eq!(members.len(), rust.len(), "{file}: fields of {name}");
            for (member, (field, offset)) in members.iter().zip(rust) {
                assert_eq!(
                    member.name.as_deref(),
                    Some(*field),
                    "{file}: {name} field order"
                );
                assert_eq!(member.offset as usize, *offset, "{file}: {name}.{field}");
            }
            checked += 1;
        }
    }
    checked
}

macro_rules! layout {
    ($ty:ty { $($field:ident),* $(,)? }) => {
        [$((stringify!($field), offset_of!($ty, $field))),*]
    };
}

#[test]
fn llm_uniform_layouts_match_every_shader() {
    use gaze::gpu::llm::{LayerParams, LlmParams, MapParams, MatmulShape, NormShape};
    let params = layout!(LlmParams {
        d_model,
        q_width,
        kv_width,
        ffn,
        heads,
        kv_heads,
        d_head,
        group,
        rope_dim,
        vocab,
        n_tokens,
        past,
        context,
        focus,
        capture,
        row_bins,
        col_bins,
        total_rows,
        rows_start,
        top_k,
        rms_eps,
        log2_rope_base,
        scale,
        temperature,
    });
    assert_eq!(
        check_struct_layout("LlmParams", &params, size_of::<LlmParams>()),
        7
    );
    let shape = layout!(MatmulShape {
        rows,
        cols,
        blocks_per_row,
        kind,
        words_per_block,
        accumulate,
        y_stride,
        y_offset,
    });
    assert_eq!(
        check_struct_layout("MatmulShape", &shape, size_of::<MatmulShape>()),
        1
    );
    let layer = layout!(LayerParams {
        layer,
        map_layer,
        map_head,
        pad0
    });
    assert_eq!(
        check_struct_layout("LayerParams", &layer, size_of::<LayerParams>()),
        3
    );
    let norm = layout!(NormShape {
        last_only,
        pad0,
        pad1,
        pad2
    });
    assert_eq!(
        check_struct_layout("NormShape", &norm, size_of::<NormShape>()),
        1
    );
    let map = layout!(MapParams {
        band_start,
        band_rows,
        cols,
        d_head,
        kv_width,
        kv_offset,
        scale,
        pad0,
    });
    assert_eq!(
        check_struct_layout("MapParams", &map, size_of::<MapParams>()),
        1
    );
}

#[test]
fn llm_matmul_type_ids_are_ggmls() {
    use gaze::model::llm::TensorType;
    let source = gaze::gpu::llm::MATMUL_WGSL;
    for kind in [
        TensorType::F32,
        TensorType::F16,
        TensorType::Q4_0,
        TensorType::Q4_1,
        TensorType::Q8_0,
    ] {
        let line = format!("const {}: u32 = {}u;", kind.name(), kind.ggml_id());
        assert!(source.contains(&line), "llm_matmul.wgsl lacks `{line}`");
    }
}

/// What the GPU receives is the file itself followed by the pieces its first line names, in that
/// order — so the comment is true, and naga's line numbers for the file are its own.
#[test]
fn every_shader_file_is_validated_joined_with_the_pieces_it_names() {
    let bare = bare_files();
    let joined = shader_files();
    let bare_names: Vec<&String> = bare.iter().map(|(name, _)| name).collect();
    let joined_names: Vec<&String> = joined.iter().map(|(name, _)| name).collect();
    assert_eq!(
        bare_names, joined_names,
        "every file in shaders/ has its Rust const in shader_files(), and no other"
    );
    let pieces = shared_pieces();
    for ((name, file), (_, source)) in bare.iter().zip(&joined) {
        let mut expected = file.clone();
        for piece in named_pieces(file) {
            let (_, text) = pieces
                .iter()
                .find(|(p, _)| *p == piece)
                .unwrap_or_else(|| panic!("{name} names shared/{piece}, which does not exist"));
            expected.push_str(text);
        }
        assert!(
            *source == expected,
            "{name}: its Rust const is not the file followed by the pieces its first line names \
             ({:?})",
            named_pieces(file)
        );
    }
}

/// A shader that uses a name a shared piece declares is joined with that piece, and one joined
/// with a piece uses at least one of its names: no missing piece, no dead one.
#[test]
fn each_shader_is_joined_with_exactly_the_pieces_whose_names_it_uses() {
    let pieces = shared_pieces();
    assert!(pieces.len() >= 5, "shared pieces: {pieces:?}");
    let mut joined_somewhere = BTreeSet::new();
    for (name, file) in bare_files() {
        let used = identifiers(&file);
        let named = named_pieces(&file);
        for (piece, text) in &pieces {
            let declared = declarations(text);
            assert!(!declared.is_empty(), "shared/{piece} declares nothing");
            let uses: Vec<&String> = declared.iter().filter(|d| used.contains(*d)).collect();
            let joined = named.contains(piece);
            assert_eq!(
                !uses.is_empty(),
                joined,
                "{name}: uses {uses:?} of shared/{piece}; joined with it: {joined}"
            );
            if joined {
                joined_somewhere.insert(piece.clone());
            }
        }
    }
    let all: BTreeSet<String> = pieces.into_iter().map(|(piece, _)| piece).collect();
    assert_eq!(
        joined_somewhere, all,
        "every shared piece is joined somewhere"
    );
}

/// Nothing a shared piece declares is declared again in a shader file or in another piece, so the
/// copies this sharing removed cannot creep back.
#[test]
fn no_shader_file_redeclares_what_a_shared_piece_declares() {
    let mut shared: Vec<(String, String)> = Vec::new();
    for (piece, text) in shared_pieces() {
        for declared in declarations(&text) {
            if let Some((other, _)) = shared.iter().find(|(_, d)| *d == declared) {
                panic!("`{declared}` is declared in both shared/{other} and shared/{piece}");
            }
            shared.push((piece.clone(), declared));
        }
    }
    assert!(
        shared.iter().any(|(_, d)| d == "AttentionParams")
            && shared.iter().any(|(_, d)| d == "LOWEST_FINITE")
            && shared.iter().any(|(_, d)| d == "reduce_sum"),
        "the declaration scanner missed shared names: {shared:?}"
    );
    let joined = shader_files();
    for (name, file) in bare_files() {
        let declared = declarations(&file);
        // The scanner sees at least what naga sees: every entry point of the joined shader.
        let (_, source) = joined
            .iter()
            .find(|(n, _)| *n == name)
            .expect("every file has its const");
        for entry in &parse(&name, source).entry_points {
            assert!(
                declared.contains(&entry.name),
                "{name}: the declaration scanner missed `{}` in {declared:?}",
                entry.name
            );
        }
        for d in &declared {
            if let Some((piece, _)) = shared.iter().find(|(_, s)| s == d) {
                panic!(
                    "{name} declares `{d}`, which shared/{piece} declares: join the piece instead"
                );
            }
        }
    }
    assert_eq!(
        declarations(
            "@group(0) @binding(1) var<storage, read> x: array<f32>;\nstruct S {\n    a: u32,\n}\n\
             @compute @workgroup_size(8, 8)\nfn f() {}\n// fn not_me\nconst C: u32 = 1u;"
        ),
        ["x", "S", "f", "C"]
    );
}
