// Joined with shared/color.wgsl in src/render/heatmap.rs.
// The attention heatmap: one instance per cell (i, j) of one head's N × N weights, drawn straight
// from the attention-weights buffer the compute kernels wrote — no CPU copy of the weights. Row i
// is where token i spends its attention budget. Each instance reads its weight as a vertex
// attribute (the host binds head h's slice of the weights buffer), so this shader needs no storage
// buffer and draws on WebGL2 too, where the weights come from the CPU reference instead.
//
// egui sets the viewport to the heatmap's rectangle, so the cells simply tile clip space.
// Colours come from the colour-map stops in `colors` (src/render/colormap.rs), interpolated the
// same way as `Colormap::sample` on the CPU, which draws the legend.

// Keep in sync with `HeatmapUniform` in src/render/heatmap.rs.
struct Heatmap {
    n_tokens: u32,      // N: columns (keys) and the row stride
    rows: u32,          // query rows per head in the weights buffer
    pad3: u32,
    srgb_target: u32,   // 1 = the target format is *Srgb: output linear values
    gap: f32,           // fraction of a cell left empty between cells
    range_lo: f32,      // with range_hi > range_lo > 0: colour on a log scale over that range
    range_hi: f32,
    pad2: u32,
}

// Keep in sync with `ColormapUniform` in src/render/colormap.rs.
struct Colormap {
    stops: array<vec4<f32>, 9>,
}

@group(0) @binding(0) var<uniform> heatmap: Heatmap;
@group(0) @binding(1) var<uniform> colors: Colormap;

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    @location(0) color: vec4<f32>,
}

// Mirrors `Colormap::sample`: linear interpolation between nine evenly spaced stops.
fn colormap(weight: f32) -> vec3<f32> {
    let x = clamp(weight, 0.0, 1.0) * 8.0;
    let i = min(u32(floor(x)), 7u);
    let f = x - f32(i);
    return mix(colors.stops[i].rgb, colors.stops[i + 1u].rgb, f);
}

// sRGB transfer function, for render targets that encode on write.
@vertex
fn vs_main(
    @builtin(vertex_index) vertex: u32,
    @builtin(instance_index) cell: u32,
    @location(0) weight: f32,
) -> VertexOut {
    let n = heatmap.n_tokens;
    let row = cell / n;
    let col = cell % n;
    // Two triangles: corners (0,0) (1,0) (0,1) / (0,1) (1,0) (1,1).
    let corner = vec2<f32>(
        select(0.0, 1.0, vertex == 1u || vertex == 4u || vertex == 5u),
        select(0.0, 1.0, vertex == 2u || vertex == 3u || vertex == 5u),
    );
    let inset = heatmap.gap * 0.5;
    let cell_uv = mix(vec2<f32>(inset), vec2<f32>(1.0 - inset), corner);
    let uv = (vec2<f32>(f32(col), f32(row)) + cell_uv) / vec2<f32>(f32(n), f32(heatmap.rows));

    // Step 4's overview can span decades or differ by a few percent around an even share: there
    // the colour is logarithmic over the map's own range. Mirrors `colormap::shade`.
    var shade = weight;
    let lo = heatmap.range_lo;
    let hi = heatmap.range_hi;
    if (lo > 0.0 && hi > lo) {
        shade = (log2(max(weight, lo)) - log2(lo)) / (log2(hi) - log2(lo));
    }
    var rgb = colormap(shade);
    if (heatmap.srgb_target != 0u) {
        rgb = srgb_to_linear(rgb);
    }
    var out: VertexOut;
    out.position = vec4<f32>(uv.x * 2.0 - 1.0, 1.0 - uv.y * 2.0, 0.0, 1.0);
    out.color = vec4<f32>(rgb, 1.0);
    return out;
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    return in.color;
}
