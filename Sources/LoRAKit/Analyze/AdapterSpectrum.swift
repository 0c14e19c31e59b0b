import CKernels
import COpenBLAS
import Foundation

/// The SVD of a low-rank product ΔW = scale·B·A computed from the factors alone:
/// B = Q_B·R_B and Aᵀ = Q_A·R_A (thin QR), then the SVD of the r×r core R_B·R_Aᵀ = U_c·Σ·V_cᵀ, so
/// ΔW = (Q_B·U_c)·(scale·Σ)·(Q_A·V_c)ᵀ. The out×in matrix is never formed; all in double precision.
public struct LowRankSVD: Sendable {
    /// Singular values of ΔW, descending, [r].
    public var singularValues: [Double]
    /// Left singular vectors, column-major [out, r] (nil unless asked for).
    public var u: [Double]?
    /// Right singular vectors, column-major [in, r] (nil unless asked for).
    public var v: [Double]?

    /// Decomposes scale·B·A. `b`: row-major [out, r]; `a`: row-major [r, in]; needs r ≤ min(out, in)
    /// and scale > 0. `name` labels errors.
    public static func decompose(b: [Float], a: [Float], out: Int, in inF: Int, rank r: Int, scale: Float,
                                 vectors: Bool, name: String) throws -> LowRankSVD {
        guard scale.isFinite, scale > 0 else { throw AnalyzeError.invalidScale(scale) }
        guard r >= 1, r <= min(out, inF), b.count == out * r, a.count == r * inF,
              out <= Int(Int32.max), inF <= Int(Int32.max) else {
            throw AnalyzeError.inconsistentFactors(path: name, key: "lora_A/lora_B",
                                                   message: "B holds \(b.count) and A \(a.count) values; out \(out), in \(inF), r \(r) need r ≤ min(out, in)")
        }
        // B as column-major [out, r] (a transpose of its row-major storage).
        var bc = [Double](repeating: 0, count: out * r)
        for i in 0..<out { for k in 0..<r { bc[k * out + i] = Double(b[i * r + k]) } }
        // A row-major [r, in] is Aᵀ column-major [in, r].
        let at = a.map(Double.init)
        var qb = [Double](repeating: 0, count: out * r), rb = [Double](repeating: 0, count: r * r)
        var qa = [Double](repeating: 0, count: inF * r), ra = [Double](repeating: 0, count: r * r)
        var info = lk_qr_thin_f64(&qb, &rb, bc, Int32(out), Int32(r))
        guard info == 0 else { throw AnalyzeError.lapack(routine: "dgeqrf/dorgqr (B)", matrix: name, info: info) }
        info = lk_qr_thin_f64(&qa, &ra, at, Int32(inF), Int32(r))
        guard info == 0 else { throw AnalyzeError.lapack(routine: "dgeqrf/dorgqr (Aᵀ)", matrix: name, info: info) }
        // core = R_B · R_Aᵀ, column-major [r, r].
        var core = [Double](repeating: 0, count: r * r)
        let ri = Int32(r)
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, ri, ri, ri, 1, rb, ri, ra, ri, 0, &core, ri)
        var s = [Double](repeating: 0, count: r), uc = [Double](repeating: 0, count: r * r), vt = [Double](repeating: 0, count: r * r)
        info = lk_svd_square_f64(&s, &uc, &vt, core, ri)
        guard info == 0 else { throw AnalyzeError.lapack(routine: "dgesdd", matrix: name, info: info) }
        let sc = Double(scale)
        var result = LowRankSVD(singularValues: s.map { $0 * sc }, u: nil, v: nil)
        if vectors {
            var u = [Double](repeating: 0, count: out * r), v = [Double](repeating: 0, count: inF * r)
            // U = Q_B · U_c  [out, r];  V = Q_A · V_c = Q_A · (V_cᵀ)ᵀ  [in, r].
            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, Int32(out), ri, ri, 1, qb, Int32(out), uc, ri, 0, &u, Int32(out))
            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, Int32(inF), ri, ri, 1, qa, Int32(inF), vt, ri, 0, &v, Int32(inF))
            result.u = u
            result.v = v
        }
        return result
    }
}

/// The spectrum of one adapted matrix's update ΔW = scale·B·A and numbers derived from it.
public struct MatrixSpectrum: Codable, Sendable, Equatable {
    public var layer: Int
    /// PEFT module name, e.g. `q_proj`.
    public var module: String
    public var outFeatures: Int
    public var inFeatures: Int
    /// Singular values of ΔW, descending, [r].
    public var singularValues: [Double]
    /// ‖ΔW‖_F = sqrt(Σ σ_i²).
    public var frobeniusNorm: Double
    /// energyShare[k−1] = Σ_{i≤k} σ_i² / Σ σ_i² for k = 1…r (all 1 when ΔW = 0).
    public var energyShare: [Double]
    /// Smallest k whose top-k singular values hold ≥ 90% of the energy (0 when ΔW = 0).
    public var effectiveRank90: Int
    /// Smallest k whose top-k singular values hold ≥ 99% of the energy (0 when ΔW = 0).
    public var effectiveRank99: Int
    /// ‖W0‖_F of the base matrix, when the base model was given.
    public var baseNorm: Double?
    /// ‖ΔW‖_F / ‖W0‖_F, when the base model was given.
    public var relativeUpdate: Double?

    enum CodingKeys: String, CodingKey {
        case layer, module, outFeatures = "out_features", inFeatures = "in_features", singularValues = "singular_values"
        case frobeniusNorm = "frobenius_norm", energyShare = "energy_share", effectiveRank90 = "effective_rank_90"
        case effectiveRank99 = "effective_rank_99", baseNorm = "base_norm", relativeUpdate = "relative_update"
    }

    /// Derives the norms, energy shares and effective ranks from singular values.
    public init(layer: Int, module: String, outFeatures: Int, inFeatures: Int, singularValues: [Double]) {
        self.layer = layer
        self.module = module
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        let sv = singularValues.sorted(by: >)
        self.singularValues = sv
        let total = sv.reduce(0) { $0 + $1 * $1 }
        frobeniusNorm = total.squareRoot()
        var acc = 0.0
        let share = sv.map { s in
            acc += s * s
            return total > 0 ? min(1, acc / total) : 1
        }
        energyShare = share
        func rank(_ p: Double) -> Int {
            guard total > 0 else { return 0 }
            return (share.firstIndex { $0 >= p - 1e-12 } ?? (sv.count - 1)) + 1
        }
        effectiveRank90 = rank(0.90)
        effectiveRank99 = rank(0.99)
        baseNorm = nil
        relativeUpdate = nil
    }

    /// `layers.L.module`.
    public var name: String { "layers.\(layer).\(module)" }

    /// Smallest k whose top-k singular values hold at least the fraction `p` of the energy (0 when ΔW = 0).
    public func effectiveRank(_ p: Double) -> Int {
        guard frobeniusNorm > 0 else { return 0 }
        return (energyShare.firstIndex { $0 >= p - 1e-12 } ?? (energyShare.count - 1)) + 1
    }
}

extension AdapterFactors {
    /// The spectrum of every adapted matrix, in (layer, target) order.
    public func spectra() throws -> [MatrixSpectrum] {
        let sc = scale
        return try matrices.map { m in
            let svd = try LowRankSVD.decompose(b: m.b, a: m.a, out: m.outFeatures, in: m.inFeatures, rank: rank, scale: sc,
                                               vectors: false, name: m.name)
            return MatrixSpectrum(layer: m.layer, module: m.target.rawValue, outFeatures: m.outFeatures,
                                  inFeatures: m.inFeatures, singularValues: svd.singularValues)
        }
    }
}

extension MatrixSpectrum {
    /// Fills `baseNorm` and `relativeUpdate` from the base model's matrix, dequantized one row at a time.
    public mutating func attachBase(_ w0: QuantizedMatrix) throws {
        guard w0.rows == outFeatures, w0.cols == inFeatures else {
            throw AnalyzeError.baseShapeMismatch(matrix: name, adapter: [outFeatures, inFeatures], base: [w0.rows, w0.cols])
        }
        var sum = 0.0
        for r in 0..<w0.rows {
            for x in w0.dequantizeRow(r) { sum += Double(x) * Double(x) }
        }
        baseNorm = sum.squareRoot()
        relativeUpdate = sum > 0 ? frobeniusNorm / sum.squareRoot() : nil
    }
}
