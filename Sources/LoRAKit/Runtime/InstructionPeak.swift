import CKernels

/// What one core can issue at best for each product family: the instruction the kernels use, timed on registers
/// only (`lk_peak_ops_per_second`). Products and steps are reported as a fraction of it (`bench kernels`), and it
/// bounds what any precision can reach on a machine: a step's frozen-product operations divided by
/// threads × peak is its floor.
public struct InstructionPeak: Sendable, Codable, Equatable {
    /// Product family: fp32, bf16 or int8.
    public var precision: ComputePrecision
    /// The instruction timed ("vpdpbusd zmm", …), "none" when this CPU has no kernel for the family.
    public var instruction: String
    /// Operations per second of one thread (2 per multiply-add), 0 when none.
    public var opsPerSecond: Double

    /// Measures one family for about `seconds` on the calling thread.
    public static func measure(_ precision: ComputePrecision, seconds: Double = 0.2) -> InstructionPeak {
        let kind: lk_peak_kind
        switch precision {
        case .fp32: kind = LK_PEAK_FP32
        case .bf16: kind = LK_PEAK_BF16
        case .int8: kind = LK_PEAK_INT8
        }
        return InstructionPeak(precision: precision, instruction: String(cString: lk_peak_instruction(kind)),
                               opsPerSecond: lk_peak_ops_per_second(kind, seconds))
    }

    /// fp32, bf16 and int8, measured one after another.
    public static func measureAll(seconds: Double = 0.2) -> [InstructionPeak] {
        [ComputePrecision.fp32, .bf16, .int8].map { measure($0, seconds: seconds) }
    }
}
