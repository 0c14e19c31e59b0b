import CKernels

/// Grid-exact quant-aware LoRA for Q4_K/Q5_K bases (`LoRAConfig.quantGrid`). A quant-aware adapter's change
/// C = s·B·A is constant over each 32-column group (C[o, g] per row o and sub-block g), but the in-place merge into a
/// Q4_K/Q5_K row can only move the sub-block's 6-bit min by whole steps of dmin (`MinGrid`). So training trains the
/// model the merge will write: after every optimizer step (and at the start and on resume) the rounded change
/// Ĉ = dmin·(m − m'), m' = clamp(round(m − C/dmin), 0, 63), is computed with the base's own d, dmin and mins, and the
/// frozen correction E = Ĉ − C [out, in/32] is added to the forward:
///
///     y = x·W0ᵀ + s·(x·Aᵀ)·Bᵀ + pool(x)·Eᵀ = x·(W0 + Ĉ·expand)ᵀ,   pool(x)_g = Σ_{i∈g} x_i,
///
/// and dx gets expand(dy·E). The factors' gradients are plain LoRA's at the rounded point (the straight-through
/// estimator: E is held constant), so the latent factors can move by less than half a grid step and cross it later.
/// Matrices of other types get no correction (Q4_1/Q5_1 take C exactly; Q6_K/Q8_0 have no offset).
///
/// The saved adapter is the rounded change itself (`savedForm`), an ordinary PEFT LoRA; the latent factors and the
/// optimizer moments live in the checkpoint.
final class QuantGridLoRA {
    /// One Q4_K/Q5_K matrix's grid: the base's dmin [out, groups/8] and mins [out, groups], and the correction E.
    final class Slot {
        let slot: LoRASlot
        let groups: Int
        let dmin: [Float]
        let mins: [UInt8]
        let correction: FloatBuffer

        init(slot: LoRASlot, matrix W: QuantizedMatrix) {
            self.slot = slot
            let groups = W.cols / QuantAwareLoRA.groupSize
            self.groups = groups
            var dmin: [Float] = [], mins: [UInt8] = []
            dmin.reserveCapacity(W.rows * groups / 8)
            mins.reserveCapacity(W.rows * groups)
            W.withUnsafeBytes { w in
                for r in 0..<W.rows {
                    let row = MinGrid.rowMins(w + r * W.rowBytes, blockBytes: W.type.blockBytes, groups: groups)
                    dmin += row.dmin
                    mins += row.mins
                }
            }
            self.dmin = dmin
            self.mins = mins
            correction = FloatBuffer(W.rows * groups)
        }

        /// Ĉ of entry i = o·groups + g: the change c of row o, sub-block g rounded to the grid (`MinGrid`), the
        /// arithmetic the merge uses.
        @inline(__always)
        func rounded(_ c: Float, at i: Int) -> Float {
            let m = mins[i], d = dmin[i / groups * (groups / 8) + i % groups / 8]
            return MinGrid.change(m, MinGrid.roundedMin(m, change: c, dmin: d), dmin: d)
        }

        /// Ĉ of a whole change C [out, groups].
        func rounded(_ C: [Float]) -> [Float] { C.indices.map { rounded(C[$0], at: $0) } }
    }

    /// Types whose offsets are a grid (the others need no correction).
    static let gridTypes: Set<GGMLType> = [.q4_K, .q5_K]

    let rank: Int
    let scale: Float
    let slots: [Slot]
    private let index: [Int: Slot]
    /// Group sums of a pass's input / dy·E [rows, groups].
    private let scratch: FloatBuffer

    /// The grid of every slot of `parameters` whose base matrix is Q4_K/Q5_K, for passes of up to `rows` rows.
    init(weights: ModelWeights, parameters: LoRAParameters, rows: Int) {
        rank = parameters.config.rank
        scale = parameters.config.scale
        var list: [Slot] = []
        for s in parameters.slots {
            let W = weights.layers[s.layer].matrix(s.target)
            guard QuantGridLoRA.gridTypes.contains(W.type), W.cols % 256 == 0 else { continue }
            list.append(Slot(slot: s, matrix: W))
        }
        slots = list
        index = Dictionary(uniqueKeysWithValues: list.map { (QuantGridLoRA.key($0.slot.layer, $0.slot.target), $0) })
        scratch = FloatBuffer(rows * (list.map(\.groups).max() ?? 0))
    }

    /// Whether any adapted matrix of `weights` is on a grid (Q4_K/Q5_K with whole super-blocks).
    static func hasGrid(weights: ModelWeights, targets: [LoRATarget]) -> Bool {
        weights.layers.contains { l in targets.contains { gridTypes.contains(l.matrix($0).type) && l.matrix($0).cols % 256 == 0 } }
    }

    private static func key(_ layer: Int, _ t: LoRATarget) -> Int { layer * 64 + t.index }

    func slot(_ layer: Int, _ t: LoRATarget) -> Slot? { index[QuantGridLoRA.key(layer, t)] }

    /// E = Ĉ − C of every grid slot from the current factors `values` (`LoRAParameters` layout).
    func refresh(_ values: UnsafePointer<Float>) {
        for s in slots {
            let C = QuantAwareLoRA.groupDelta(values, slot: s.slot, rank: rank, scale: scale)
            for i in C.indices { s.correction.ptr[i] = s.rounded(C[i], at: i) - C[i] }
        }
    }

    /// y[rows, out] += pool(x)·Eᵀ, x [rows, in].
    func forward(_ s: Slot, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, rows: Int, pool: OpaquePointer?) {
        let ng = s.groups, p = scratch.ptr
        QuantAwareLoRA.groupSums(x, rows: rows, cols: s.slot.inFeatures, into: p)
        lk_sgemm(pool, 0, 1, Int64(rows), Int64(s.slot.outFeatures), Int64(ng), 1, p, Int64(ng), s.correction.ptr, Int64(ng), 1,
                 y, Int64(s.slot.outFeatures))
    }

    /// dx[rows, in] += expand(dy·E), dy [rows, out] (E is constant: no factor gradient).
    func backward(_ s: Slot, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, rows: Int, pool: OpaquePointer?) {
        let G = QuantAwareLoRA.groupSize, ng = s.groups, inF = s.slot.inFeatures, p = scratch.ptr, out = Int64(s.slot.outFeatures)
        lk_sgemm(pool, 0, 0, Int64(rows), Int64(ng), out, 1, dy, out, s.correction.ptr, Int64(ng), 0, p, Int64(ng))
        for t in 0..<rows {
            let dr = dx + t * inF
            for g in 0..<ng {
                let v = p[t * ng + g]
                for j in 0..<G { dr[g * G + j] += v }
            }
        }
    }

    /// The configuration of the saved adapter (`savedForm`): rank R = the largest in/32 of the targets, alpha R.
    static func savedConfig(_ latent: LoRAConfig, model: LlamaConfig) -> LoRAConfig {
        var cfg = latent
        cfg.rank = latent.targets.map { $0.shape(model).in / QuantAwareLoRA.groupSize }.max() ?? 1
        cfg.alpha = Float(cfg.rank)
        cfg.useRSLoRA = false
        cfg.dropout = 0
        return cfg
    }

    /// The adapter to save: the change each matrix gets (Ĉ on grid slots, C elsewhere) as an ordinary PEFT LoRA of rank
    /// R = the largest in/32 over the targets, alpha = R (scale 1, no rsLoRA): A row g is the indicator of group g
    /// (rows past a matrix's in/32 are 0), B [out, R] holds the change. PEFT, llama.cpp and the merge read it as they
    /// read any LoRA; it computes exactly the trained model (W0 + Ĉ), and `merge --type same` writes exactly m'.
    static func savedForm(_ latent: LoRAParameters, grid: QuantGridLoRA, model: LlamaConfig) throws -> LoRAParameters {
        let G = QuantAwareLoRA.groupSize
        var out = try LoRAParameters(zeroed: savedConfig(latent.config, model: model), model: model)
        let R = out.config.rank
        latent.values.withUnsafeBufferPointer { v in
            for (i, s) in latent.slots.enumerated() {
                let d = out.slots[i], ng = s.inFeatures / G
                var change = QuantAwareLoRA.groupDelta(v.baseAddress!, slot: s, rank: latent.config.rank, scale: latent.config.scale)
                if let gs = grid.slot(s.layer, s.target) { change = gs.rounded(change) }
                for g in 0..<ng {
                    for j in 0..<G { out.values[d.aOffset + g * d.inFeatures + g * G + j] = 1 }
                }
                for o in 0..<s.outFeatures {
                    for g in 0..<ng { out.values[d.bOffset + o * R + g] = change[o * ng + g] }
                }
            }
        }
        return out
    }
}
