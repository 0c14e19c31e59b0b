import Foundation
#if canImport(Glibc)
import Glibc
#endif
#if canImport(CNuma)
import CNuma
#endif

/// Copies frozen matrices into node-local memory and reports where pages live.
///
/// A `QuantizedMatrix` needs its rows contiguous, so a placed matrix is one anonymous mapping
/// whose page ranges are bound to different nodes (`mbind`) before the copy touches them: rows
/// `partition[g]` land on `nodes[g]`. A page that straddles two parts goes to the later part, so
/// at most one page per boundary is remote. The mapping is unmapped when the last view of the
/// returned matrix goes away.
public enum NUMAPlacement {
    /// How strictly pages are bound to their node.
    public enum Policy: String, Codable, Sendable {
        /// `MPOL_PREFERRED`: the node when it has free memory, another node otherwise (never OOM).
        case preferred
        /// `MPOL_BIND`: only the node; the allocation fails (OOM) when the node is full.
        case bind
    }

    /// The size of a memory page.
    public static var pageSize: Int {
        #if canImport(Glibc)
        return max(Int(sysconf(Int32(_SC_PAGESIZE))), 4096)
        #else
        return 4096
        #endif
    }

    /// Places `m` the way `plan` says: unchanged when the plan places nothing, else split with
    /// `plan.rowPartition(rows: m.rows, align: align)` onto the groups' memory nodes. Use
    /// `align` 1 with `lk_qmatmul_fwd`, whose thread `i` reads rows `[rows·i/n, rows·(i+1)/n)`.
    public static func place(_ m: QuantizedMatrix, plan: NUMAPlan, align: Int, name: String = "",
                             policy: Policy = .preferred) throws -> QuantizedMatrix {
        guard plan.placesWeights else { return m }
        return try place(m, partition: plan.rowPartition(rows: m.rows, align: align),
                         nodes: plan.partitionNodes, name: name, policy: policy)
    }

    /// Returns a copy of `m` whose rows `partition[g]` sit in memory of node `nodes[g]`
    /// (a negative node leaves that part to the process's memory policy). `partition` must cover
    /// `0..<m.rows` in order, exactly once. `name` names the tensor in errors.
    public static func place(_ m: QuantizedMatrix, partition: [Range<Int>], nodes: [Int], name: String = "",
                             policy: Policy = .preferred) throws -> QuantizedMatrix {
        guard partition.count == nodes.count, !partition.isEmpty else {
            throw NUMAError.badPartition(tensor: name, detail: "\(partition.count) ranges for \(nodes.count) nodes")
        }
        var next = 0
        for r in partition {
            guard r.lowerBound == next else {
                throw NUMAError.badPartition(tensor: name, detail: "range \(r) does not start at row \(next)")
            }
            next = r.upperBound
        }
        guard next == m.rows else {
            throw NUMAError.badPartition(tensor: name, detail: "ranges end at row \(next), matrix has \(m.rows) rows")
        }
        let rowBytes = m.rowBytes, total = m.byteCount
        let page = pageSize
        let mapped = max((total + page - 1) / page * page, page)
        #if os(Linux)
        guard let raw = mapAligned(mapped) else {
            throw NUMAError.allocationFailed(tensor: name, bytes: total, errno: errno)
        }
        let pages = mapped / page
        for (g, r) in partition.enumerated() where nodes[g] >= 0 {
            let first = g == 0 ? 0 : r.lowerBound * rowBytes / page
            let end = g == partition.count - 1 ? pages : partition[g + 1].lowerBound * rowBytes / page
            guard end > first else { continue }
            do {
                try bind(raw + first * page, bytes: (end - first) * page, node: nodes[g], policy: policy, name: name)
            } catch {
                munmap(raw, mapped)
                throw error
            }
        }
        // First touch: pages are allocated now, on the nodes bound above.
        m.withUnsafeBytes { src in raw.copyMemory(from: src, byteCount: total) }
        let storage = ByteStorage(base: UnsafeRawPointer(raw), count: total) { munmap(raw, mapped) }
        guard let placed = QuantizedMatrix(type: m.type, rows: m.rows, cols: m.cols, storage: storage, offset: 0) else {
            throw NUMAError.badPartition(tensor: name, detail: "copy does not fit the matrix shape")
        }
        return placed
        #else
        return m
        #endif
    }

    #if os(Linux)
    /// An anonymous read-write mapping of `bytes` (a page multiple) starting on a 2 MiB boundary,
    /// so that where transparent huge pages are on (`always`) whole huge pages fit; huge pages
    /// follow the `mbind` policy. MADV_HUGEPAGE is not requested: measured here it copied at
    /// 10 GB/s on a quiet machine but stalled to 0.45 GB/s in direct compaction under memory
    /// pressure, against a steady 2.8 GB/s with 4 KiB pages.
    private static func mapAligned(_ bytes: Int) -> UnsafeMutableRawPointer? {
        let huge = 2 << 20
        guard let r = mmap(nil, bytes + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              r != MAP_FAILED else { return nil }
        let start = (Int(bitPattern: r) + huge - 1) / huge * huge
        let head = start - Int(bitPattern: r)
        if head > 0 { munmap(r, head) }
        let tail = huge - head
        if tail > 0 { munmap(r + head + bytes, tail) }
        return r + head
    }
    #endif

    #if os(Linux) && canImport(CNuma)
    /// Binds `[addr, addr+bytes)` (page aligned) to `node`.
    private static func bind(_ addr: UnsafeMutableRawPointer, bytes: Int, node: Int, policy: Policy, name: String) throws {
        let bitsPerWord = UInt.bitWidth
        var mask = [UInt](repeating: 0, count: node / bitsPerWord + 1)
        mask[node / bitsPerWord] |= 1 << UInt(node % bitsPerWord)
        let mode = policy == .bind ? Int32(MPOL_BIND) : Int32(MPOL_PREFERRED)
        // The kernel reads maxnode - 1 bits (libnuma passes size + 1 the same way).
        let rc = mask.withUnsafeBufferPointer {
            mbind(addr, UInt(bytes), mode, $0.baseAddress, UInt(mask.count * bitsPerWord + 1), 0)
        }
        if rc != 0 { throw NUMAError.bindFailed(tensor: name, node: node, bytes: bytes, errno: errno) }
    }
    #elseif os(Linux)
    private static func bind(_ addr: UnsafeMutableRawPointer, bytes: Int, node: Int, policy: Policy, name: String) throws {
        throw NUMAError.bindFailed(tensor: name, node: node, bytes: bytes, errno: ENOSYS)
    }
    #endif

    /// The node of each page overlapping `[pointer, pointer+count)` (`move_pages` with no target
    /// nodes); a negative entry is `-errno` for that page (e.g. `-ENOENT`: not yet touched).
    public static func pageNodes(of pointer: UnsafeRawPointer, count: Int) throws -> [Int] {
        guard count > 0 else { return [] }
        #if os(Linux) && canImport(CNuma)
        let page = pageSize
        let start = Int(bitPattern: pointer) / page * page
        let end = Int(bitPattern: pointer) + count
        let n = (end - start + page - 1) / page
        var out: [Int] = []
        out.reserveCapacity(n)
        let chunk = 1 << 14
        var i = 0
        while i < n {
            let k = min(chunk, n - i)
            var addrs: [UnsafeMutableRawPointer?] = (0..<k).map { UnsafeMutableRawPointer(bitPattern: start + (i + $0) * page) }
            var status = [Int32](repeating: 0, count: k)
            let rc = move_pages(0, UInt(k), &addrs, nil, &status, 0)
            if rc != 0 { throw NUMAError.queryFailed(errno: errno) }
            out += status.map { Int($0) }
            i += k
        }
        return out
        #else
        throw NUMAError.queryFailed(errno: ENOSYS)
        #endif
    }

    /// Bytes of each node's share of `matrices` under `plan` (empty when the plan places nothing),
    /// for the memory accountant's per-node totals.
    public static func bytesPerNode(_ matrices: [QuantizedMatrix], plan: NUMAPlan, align: Int) -> [Int: Int] {
        bytesPerNode(shapes: matrices.map { (rows: $0.rows, rowBytes: $0.rowBytes) }, plan: plan, align: align)
    }

    /// Bytes of each node's share of matrices given by their row counts and bytes per row
    /// (e.g. from GGUF tensor infos, without loading them); empty when the plan places nothing.
    public static func bytesPerNode(shapes: [(rows: Int, rowBytes: Int)], plan: NUMAPlan, align: Int) -> [Int: Int] {
        guard plan.placesWeights else { return [:] }
        var out: [Int: Int] = [:]
        for m in shapes {
            for (g, r) in plan.rowPartition(rows: m.rows, align: align).enumerated() {
                out[plan.groups[g].memoryNode ?? -1, default: 0] += r.count * m.rowBytes
            }
        }
        return out
    }
}
