/// What a planned buffer is for: the memory accountant's groups (`GraphPlan`'s fields).
enum PlanTerm: Sendable, CaseIterable {
    case parameters, gradients, smallTensors, layerInputs, activations, head, backwardScratch, attentionScratch,
         groupPartials, kvCache
}

/// One buffer of a plan (llm.c's `act_sizes` style): a name, its element count (4-byte fp32 or int32 elements)
/// and its accountant group.
struct BufferSpec: Sendable, Equatable {
    let name: String
    let count: Int
    let term: PlanTerm
    var bytes: Int { count * 4 }
}

/// Hands out one buffer per named spec and records the specs: the same code describes a model's buffers for
/// allocation (`F` = `FloatBuffer`, `I` = `Int32Buffer`) and for the memory plan (`F` = `I` = `Void`, nothing
/// allocated), so the two cannot disagree. Names are prefixed by the enclosing scope (`layer3.q`).
struct BufferBuilder<F, I> {
    private(set) var specs: [BufferSpec] = []
    /// Bytes of the buffers actually made, per group (0 when planning).
    private(set) var madeBytes: [PlanTerm: Int] = [:]
    private let makeFloat: (Int) -> (F, Int)
    private let makeInt: (Int) -> (I, Int)
    private var prefix = ""

    /// `float` and `int32` make a buffer of n elements and say how many bytes it holds.
    init(float: @escaping (Int) -> (F, Int), int32: @escaping (Int) -> (I, Int)) {
        makeFloat = float
        makeInt = int32
    }

    /// An fp32 buffer of `count` elements.
    mutating func float(_ name: String, _ count: Int, _ term: PlanTerm) -> F {
        specs.append(BufferSpec(name: prefix + name, count: count, term: term))
        let (buf, bytes) = makeFloat(count)
        madeBytes[term, default: 0] += bytes
        return buf
    }

    /// An int32 buffer of `count` elements (token ids, targets, positions).
    mutating func int32(_ name: String, _ count: Int, _ term: PlanTerm) -> I {
        specs.append(BufferSpec(name: prefix + name, count: count, term: term))
        let (buf, bytes) = makeInt(count)
        madeBytes[term, default: 0] += bytes
        return buf
    }

    /// Runs `body` with names prefixed by `scope.`.
    mutating func scoped<R>(_ scope: String, _ body: (inout BufferBuilder) -> R) -> R {
        let saved = prefix
        prefix = saved + scope + "."
        defer { prefix = saved }
        return body(&self)
    }

    /// Bytes per accountant group, as planned.
    var bytesByTerm: [PlanTerm: Int] {
        specs.reduce(into: [:]) { $0[$1.term, default: 0] += $1.bytes }
    }
}

extension BufferBuilder where F == FloatBuffer, I == Int32Buffer {
    /// Allocates every buffer (zeroed, 64-byte aligned).
    static func allocating() -> BufferBuilder {
        BufferBuilder(float: { let b = FloatBuffer($0); return (b, b.bytes) }, int32: { let b = Int32Buffer($0); return (b, b.count * 4) })
    }
}

extension BufferBuilder where F == Void, I == Void {
    /// Records the specs only.
    static func planning() -> BufferBuilder { BufferBuilder(float: { _ in ((), 0) }, int32: { _ in ((), 0) }) }
}
