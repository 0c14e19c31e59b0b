/// An owned, 64-byte-aligned fp32 buffer allocated once per plan and reused every step.
/// Its pointer is used only inside the model's own compute calls.
final class FloatBuffer: @unchecked Sendable {
    let count: Int
    let ptr: UnsafeMutablePointer<Float>

    init(_ count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        ptr = raw.initializeMemory(as: Float.self, repeating: 0, count: max(count, 1))
    }

    deinit { UnsafeMutableRawPointer(ptr).deallocate() }

    var bytes: Int { count * 4 }

    func zero() { ptr.update(repeating: 0, count: count) }

    func copy(from a: [Float]) {
        a.withUnsafeBufferPointer { src in ptr.update(from: src.baseAddress!, count: min(a.count, count)) }
    }

    func array(_ n: Int? = nil, offset: Int = 0) -> [Float] {
        Array(UnsafeBufferPointer(start: ptr + offset, count: n ?? (count - offset)))
    }
}

/// An owned Int32 buffer (token ids, targets, positions).
final class Int32Buffer: @unchecked Sendable {
    let count: Int
    let ptr: UnsafeMutablePointer<Int32>

    init(_ count: Int) {
        self.count = count
        ptr = UnsafeMutablePointer<Int32>.allocate(capacity: max(count, 1))
        ptr.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { ptr.deallocate() }

    func copy(from a: [Int32]) {
        a.withUnsafeBufferPointer { src in ptr.update(from: src.baseAddress!, count: min(a.count, count)) }
    }
}
