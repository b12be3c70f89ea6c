// Shared piece: which keys a query may attend to. The kernel it is joined with declares
// `params: AttentionParams` (shared/attention_params.wgsl) and `key_mask: array<u32>` ([N],
// 1 = padding).

// Key j is hidden from query i when it lies in the future under the causal mask (j > i) or is
// padding. Mirrors `model::attention::is_attendable`.
fn is_attendable(i: u32, j: u32) -> bool {
    let future = params.causal != 0u && j > i;
    let padding = params.use_key_mask != 0u && key_mask[j] != 0u;
    return !(future || padding);
}
