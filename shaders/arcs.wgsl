// Joined with shared/{arcs_uniform, color}.wgsl in src/render/arcs.rs.
// Attention arcs: one instance per key j, a curved strip from token j to the focus token whose
// thickness is the eased attention weight (from `arcs_ease.wgsl`'s state buffer, itself fed by
// the attention-weights buffer: no CPU copy of the weights). Particles ride each arc toward the
// focus. Each instance reads its arc's record, vec4(displayed, phase, row_max, 0), as a vertex
// attribute: the host binds head h's slice of the state buffer, so the shader needs no storage
// buffer and runs on WebGL2 too. Tokens sit in equal slots along the bottom of the strip: token j's centre is at
// x = (j + 0.5) / N of the strip's width.
//
// Classes (colours, with a legend in the panel): strongest = the largest arc, notable = at least
// half of it, background = the rest.

// Keep in sync with `ArcStyle` in src/render/arcs.rs.
struct Style {
    strongest: vec4<f32>,
    notable: vec4<f32>,
    background: vec4<f32>,
    pad0: u32,
    particles: u32,     // particles per arc
    srgb_target: u32,
    pad: u32,
}

const SEGMENTS: u32 = 24u;

@group(0) @binding(0) var<uniform> arcs: Arcs;
@group(0) @binding(1) var<uniform> style: Style;

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    @location(0) color: vec4<f32>,
    @location(1) local: vec2<f32>,   // particle quad coordinates in [-1, 1]
}

fn class_color(shown: f32, row_max: f32) -> vec4<f32> {
    var c = style.background;
    // Background arcs fade with their weight, so a long context's hundreds of tiny arcs read
    // as a haze and the few that matter stand out.
    if (row_max > 0.0) {
        c.a = mix(0.2, 1.0, clamp(shown / row_max, 0.0, 1.0));
    }
    if (row_max > 0.0 && shown >= 0.5 * row_max) {
        c = style.notable;
    }
    if (row_max > 0.0 && shown >= row_max * 0.9999) {
        c = style.strongest;
    }
    if (style.srgb_target != 0u) {
        c = vec4<f32>(srgb_to_linear(c.rgb), c.a);
    }
    return c;
}

// The arc from key j to the focus: a quadratic Bézier in pixels, rising by half the distance
// between its ends (at most the strip's height, less a margin).
fn bezier(j: u32, t: f32) -> vec2<f32> {
    let n = f32(arcs.n_tokens);
    let base = arcs.viewport.y - 2.0;
    let from_x = (f32(j) + 0.5) / n * arcs.viewport.x;
    let to_x = (f32(arcs.focus) + 0.5) / n * arcs.viewport.x;
    let rise = min(abs(to_x - from_x) * 0.5, arcs.viewport.y - 12.0);
    let p0 = vec2<f32>(from_x, base);
    let p1 = vec2<f32>(0.5 * (from_x + to_x), base - 2.0 * rise);
    let p2 = vec2<f32>(to_x, base);
    let u = 1.0 - t;
    return u * u * p0 + 2.0 * u * t * p1 + t * t * p2;
}

fn to_clip(p: vec2<f32>) -> vec4<f32> {
    return vec4<f32>(p.x / arcs.viewport.x * 2.0 - 1.0, 1.0 - p.y / arcs.viewport.y * 2.0, 0.0, 1.0);
}

@vertex
fn vs_arc(
    @builtin(vertex_index) vertex: u32,
    @builtin(instance_index) j: u32,
    @location(0) record: vec4<f32>,
) -> VertexOut {
    var out: VertexOut;
    let shown = record.x;
    // The focus's weight on itself is not an arc.
    if (j == arcs.focus) {
        out.position = vec4<f32>(2.0, 2.0, 0.0, 1.0);
        out.color = vec4<f32>(0.0);
        return out;
    }
    // Segment s of the strip: two triangles between t0 and t1, each side offset along the normal.
    let s = vertex / 6u;
    let corner = vertex % 6u;
    let along = select(0u, 1u, corner == 1u || corner == 4u || corner == 5u);
    let side = select(-1.0, 1.0, corner == 2u || corner == 3u || corner == 5u);
    let t = f32(s + along) / f32(SEGMENTS);
    let p = bezier(j, t);
    let ahead = bezier(j, min(t + 0.01, 1.0)) - bezier(j, max(t - 0.01, 0.0));
    let normal = normalize(vec2<f32>(-ahead.y, ahead.x));
    let half_width = 0.5 * max(shown * arcs.max_thickness, 0.75);
    out.position = to_clip(p + normal * side * half_width);
    out.color = class_color(shown, record.z);
    out.local = vec2<f32>(0.0);
    return out;
}

// Instance j draws arc j's particles: vertices 6k..6k+5 are particle k's quad.
@vertex
fn vs_particle(
    @builtin(vertex_index) index: u32,
    @builtin(instance_index) j: u32,
    @location(0) record: vec4<f32>,
) -> VertexOut {
    var out: VertexOut;
    let k = index / 6u;
    let vertex = index % 6u;
    let shown = record.x;
    if (j == arcs.focus || shown < 0.005) {
        out.position = vec4<f32>(2.0, 2.0, 0.0, 1.0);
        out.color = vec4<f32>(0.0);
        return out;
    }
    let phase = record.y;
    let t = fract(phase + f32(k) / f32(style.particles));
    let corner = vec2<f32>(
        select(-1.0, 1.0, vertex == 1u || vertex == 4u || vertex == 5u),
        select(-1.0, 1.0, vertex == 2u || vertex == 3u || vertex == 5u),
    );
    let radius = 1.5 + 0.6 * shown * arcs.max_thickness;
    out.position = to_clip(bezier(j, t) + corner * radius);
    out.color = vec4<f32>(1.0, 1.0, 1.0, 0.9);
    out.local = corner;
    return out;
}

@fragment
fn fs_arc(in: VertexOut) -> @location(0) vec4<f32> {
    return in.color;
}

@fragment
fn fs_particle(in: VertexOut) -> @location(0) vec4<f32> {
    // Round particles: discard the quad's corners.
    if (dot(in.local, in.local) > 1.0) {
        discard;
    }
    return in.color;
}
