/// Where a run is in its data: part of the training state, so a resumed run continues with the
/// next example. `offset` is the token offset inside the example (packing only).
public struct DataPosition: Codable, Sendable, Equatable, CustomStringConvertible {
    public var epoch: Int
    public var index: Int
    public var offset: Int
    public init(epoch: Int = 0, index: Int = 0, offset: Int = 0) { self.epoch = epoch; self.index = index; self.offset = offset }
    public var description: String { "epoch \(epoch), example \(index)" + (offset > 0 ? " +\(offset) tokens" : "") }
}

/// One batch: `tokens` [B, S] inputs and `targets` [B, S], the next token or -1 where masked or padded.
public struct TokenBatch: Sendable, Equatable {
    public let batchSize: Int
    public let sequenceLength: Int
    public var tokens: [Int32]    // [B, S]
    public var targets: [Int32]   // [B, S]
    /// Number of targets that are not -1.
    public var targetCount: Int
    /// The position after this batch (save it to resume).
    public var position: DataPosition
    /// True when this batch finished an epoch (its last rows may be padding).
    public var endsEpoch: Bool
    /// RoPE position of each token [B, S] with packing: its offset inside its example (a row that continues an
    /// example keeps counting), so a position that does not continue the previous token's starts a new segment,
    /// and attention stays inside segments. Empty without packing (0..<S in every row).
    public var positions: [Int32] = []
}

/// A deterministic SplitMix64 generator (same sequence on every platform) for shuffling.
public struct DataShuffleRNG: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }
    /// A uniform integer in 0..<n (multiply-high; n > 0).
    public mutating func below(_ n: Int) -> Int { Int(next().multipliedFullWidth(by: UInt64(n)).high) }

    /// The example order of `epoch`: a Fisher–Yates shuffle of 0..<count seeded by (seed, epoch).
    public static func order(count: Int, seed: UInt64, epoch: Int) -> [Int] {
        var rng = DataShuffleRNG(seed: seed ^ (UInt64(epoch) &* 0xD1B5_4A32_D192_ED03))
        var a = Array(0..<count)
        if count > 1 { for i in stride(from: count - 1, to: 0, by: -1) { a.swapAt(i, rng.below(i + 1)) } }
        return a
    }
}

/// Yields [B, S] batches from a tokenized dataset, epoch after epoch, forever.
///
/// Without packing each row holds one example (truncated to S + 1 tokens: S inputs, the last only
/// a target) and is padded. With packing, rows are filled from the examples laid end to end and
/// consecutive rows overlap by one token so no prediction is lost; examples are kept apart (`positions`
/// restart at 0 for each example, attention stays inside it, and an example's first token is not a target
/// of the previous example's last), so a packed example has the loss it has alone. A batch never spans two
/// epochs: an epoch's last batch is padded. Example order is reshuffled every epoch from `seed`.
public struct BatchIterator: Sendable {
    public let dataset: TokenizedDataset
    public let batchSize: Int
    public let sequenceLength: Int
    public let packing: Bool
    public let shuffle: Bool
    public let seed: UInt64
    public let padID: Int32
    /// Where the next batch starts.
    public private(set) var position: DataPosition
    private var order: [Int]
    private var orderEpoch: Int

    public init(dataset: TokenizedDataset, batchSize: Int, sequenceLength: Int, packing: Bool = false,
                shuffle: Bool = true, seed: UInt64 = 0, padID: Int32 = 0, start: DataPosition = DataPosition()) throws {
        guard batchSize >= 1 else { throw DatasetError.invalidOption("batch size \(batchSize) < 1") }
        guard sequenceLength >= 1 else { throw DatasetError.invalidOption("sequence length \(sequenceLength) < 1") }
        let n = dataset.examples.count
        guard start.epoch >= 0, start.index >= 0, start.index <= n, start.offset >= 0,
              start.index < n || start.offset == 0 else {
            throw DatasetError.invalidOption("data position (\(start)) is outside \(dataset.path) (\(n) examples)")
        }
        self.dataset = dataset; self.batchSize = batchSize; self.sequenceLength = sequenceLength
        self.packing = packing; self.shuffle = shuffle; self.seed = seed; self.padID = padID
        position = start
        orderEpoch = -1
        order = []
        if position.index == n { position = DataPosition(epoch: position.epoch + 1) }
    }

    /// Batches in one epoch (for packing, an upper bound reached when examples fill rows exactly).
    public var batchesPerEpoch: Int {
        let rows: Int
        if packing {
            let tokens = dataset.tokenCount
            rows = max(1, (max(tokens - 1, 1) + sequenceLength - 1) / sequenceLength)
        } else {
            rows = dataset.examples.count
        }
        return (rows + batchSize - 1) / batchSize
    }

    private mutating func example(_ i: Int) -> TokenizedExample {
        if orderEpoch != position.epoch {
            order = shuffle ? DataShuffleRNG.order(count: dataset.examples.count, seed: seed, epoch: position.epoch)
                : Array(0..<dataset.examples.count)
            orderEpoch = position.epoch
        }
        return dataset.examples[order[i]]
    }

    /// The next batch.
    public mutating func next() -> TokenBatch {
        let S = sequenceLength, n = dataset.examples.count
        var tokens = [Int32](repeating: padID, count: batchSize * S)
        var targets = [Int32](repeating: -1, count: batchSize * S)
        var positions = packing ? (0..<(batchSize * S)).map { Int32($0 % S) } : []
        var count = 0
        var endsEpoch = false
        for row in 0..<batchSize where !endsEpoch {
            let base = row * S
            if !packing {
                let ex = example(position.index)
                let L = min(ex.tokens.count, S + 1)
                for i in 0..<min(L, S) {
                    tokens[base + i] = ex.tokens[i]
                    if i + 1 < L && ex.mask[i + 1] != 0 { targets[base + i] = ex.tokens[i + 1]; count += 1 }
                }
                position.index += 1
            } else {
                // Read S + 1 tokens from the stream; the row's last token starts the next row.
                var idx = position.index, off = position.offset
                var filled = 0
                while filled <= S && idx < n {
                    let ex = example(idx)
                    while filled <= S && off < ex.tokens.count {
                        if filled < S { tokens[base + filled] = ex.tokens[off]; positions[base + filled] = Int32(off) }
                        // A token is a target only of the token before it in its own example.
                        if filled > 0 && off > 0 && ex.mask[off] != 0 { targets[base + filled - 1] = ex.tokens[off]; count += 1 }
                        filled += 1
                        if filled <= S { off += 1 }
                    }
                    if off >= ex.tokens.count { idx += 1; off = 0 }
                }
                for s in min(filled, S)..<S { positions[base + s] = Int32(s - filled) }   // padding: a segment of its own
                position.index = idx
                position.offset = off
                if idx == n - 1 && off == dataset.examples[order[idx]].tokens.count - 1 {
                    position.index = n; position.offset = 0   // only the epoch's last token is left
                }
            }
            if position.index >= n {
                endsEpoch = true
                position = DataPosition(epoch: position.epoch + 1)
            }
        }
        return TokenBatch(batchSize: batchSize, sequenceLength: S, tokens: tokens, targets: targets,
                          targetCount: count, position: position, endsEpoch: endsEpoch, positions: positions)
    }
}
