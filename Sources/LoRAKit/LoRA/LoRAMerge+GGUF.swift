import Foundation

extension LoRAMerge {
    /// Writes `model` (loaded from a GGUF file) with `adapter` folded in as a new GGUF at `path`.
    /// All metadata (tokenizer, chat template, …) and every tensor the adapter does not touch are copied
    /// as they are; each targeted matrix is dequantized, merged and stored as `type`, one at a time while
    /// the file is written (memory: one fp32 matrix). A quant-aware adapter's change is written into the blocks'
    /// offsets where the type has them (`LoRAMerge.mergeMatrix`); `.auto` picks each matrix's type from the survival
    /// of its change (`LoRAMerge.autoType`, one extra merge per matrix before writing). `onMatrix` is called after
    /// each merged matrix. `calibration` (`MergeCalibration.measure`) weights the in-place Q4_K/Q5_K refit of a
    /// quant-aware change by how the input uses each sub-block; without it the refit is unweighted.
    /// Returns the per-matrix reports in file order.
    @discardableResult
    public static func writeGGUF(model: ModelWeights, adapter: LoRAParameters, to path: String, type: MergeType = .auto,
                                 calibration: MergeCalibration? = nil, pool: ThreadPool,
                                 onMatrix: ((MergedMatrixReport) -> Void)? = nil) throws -> [MergedMatrixReport] {
        guard let gguf = model.gguf else { throw MergeError.needsGGUFBase(path: model.source.path) }
        try check(adapter, model: model.config)
        let writer = try GGUFWriter(alignment: gguf.alignment)
        for k in gguf.metadataKeys {
            if let v = gguf.metadata[k] { try writer.set(k, v) }
        }
        var bySlot: [String: LoRASlot] = [:]
        for s in adapter.slots { bySlot["blk.\(s.layer).\(s.target.ggufName).weight"] = s }
        let box = MergeReportBox()
        box.onMatrix = onMatrix
        for info in gguf.tensors {
            if let s = bySlot[info.name] {
                let W0 = try gguf.matrix(named: info.name)
                let t = type == .auto ? try autoType(base: W0, adapter: adapter, slot: s, pool: pool)
                                      : type.resolve(base: info.type, cols: info.dims[0])
                try writer.addTensor(name: info.name, dims: info.dims, type: t) { emit in
                    let (q, report) = try mergeMatrix(base: W0, adapter: adapter, slot: s, type: t, name: info.name,
                                                  groupMoments: calibration?.moments[info.name], pool: pool)
                    try q.withUnsafeBytes { try emit(UnsafeRawBufferPointer(start: $0, count: q.byteCount)) }
                    box.add(report)
                }
            } else {
                let bytes = try gguf.tensorBytes(named: info.name)
                try writer.addTensor(name: info.name, dims: info.dims, type: info.type) { emit in
                    try bytes.withUnsafeBytes { try emit($0) }
                }
            }
        }
        try writer.write(to: path)
        return box.reports
    }
}
