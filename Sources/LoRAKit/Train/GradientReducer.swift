import CKernels

/// Sums the micro-batch gradients of one optimizer step in global micro-batch order, over any number
/// of ranks, with the same bits as one process doing all of them:
///
///     g = ((m0 + m1) + m2) + …     m_i: gradient of global micro-batch i, computed from zero
///
/// A step of K = k·N micro-batches runs in k rounds; in round j rank r computes micro-batch j·N + r.
/// After each round the ranks exchange slices (all-to-all) and the owner of each slice adds the N
/// new gradients to its running sum in rank order, i.e. in global order; after the last round the
/// slices are gathered. One process (N = 1) takes the same path with copies instead of messages.
/// Micro-batches without targets are skipped, as a single process skips them.
final class GradientReducer {
    let communicator: GradientCommunicator
    let counts: [Int]                 // slice of the parameters each rank owns
    private let owned: FloatBuffer    // [counts[rank]] running sum of this rank's slice
    private let received: FloatBuffer // [size · counts[rank]] the slice from every rank, in rank order
    private var started = false

    init(communicator: GradientCommunicator, parameterCount: Int) {
        self.communicator = communicator
        counts = communicator.sliceCounts(parameterCount)
        let mine = counts[communicator.rank]
        owned = FloatBuffer(mine)
        received = FloatBuffer(communicator.size > 1 ? communicator.size * mine : 0)
    }

    /// Starts a new step (the running sum is empty).
    func begin() { started = false }

    /// Adds one round: `gradients` holds this rank's micro-batch gradient (any values when it has
    /// none); `contributes[q]` says whether rank q's micro-batch of this round counts.
    func add(_ gradients: FloatBuffer, contributes: [Bool]) throws {
        let n = communicator.size, mine = counts[communicator.rank]
        if n == 1 {
            if contributes[0] { accumulate(gradients.ptr, mine) }
            return
        }
        try communicator.allToAll(UnsafeBufferPointer(start: gradients.ptr, count: gradients.count), counts: counts,
                                  into: UnsafeMutableBufferPointer(start: received.ptr, count: received.count))
        for q in 0..<n where contributes[q] { accumulate(received.ptr + q * mine, mine) }
    }

    private func accumulate(_ x: UnsafePointer<Float>, _ count: Int) {
        if !started {
            owned.ptr.update(from: x, count: count)
            started = true
        } else {
            lk_axpy_ref(owned.ptr, 1, x, Int64(count))   // y + 1·x is exactly y + x
        }
    }

    /// Writes the step's summed gradient into `gradients` on every rank (zeros when nothing counted).
    func finish(into gradients: FloatBuffer) throws {
        if !started { owned.zero() }
        try communicator.allGather(UnsafeBufferPointer(start: owned.ptr, count: owned.count), counts: counts,
                                   into: UnsafeMutableBufferPointer(start: gradients.ptr, count: gradients.count))
    }
}
