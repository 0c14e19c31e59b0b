/// The pre-tokenizers LoRAKit implements: each splits text into words before BPE merging.
///
/// Each is a hand-written scanner over Unicode scalars equivalent to the regular expression the
/// Hugging Face tokenizer uses (listed per case); `\p{L}`, `\p{N}` and `\s` are the Unicode
/// general categories L*, N* and the White_Space property.
public enum PreTokenizer: String, CaseIterable, Sendable {
    /// SmolLM / SmolLM2 / StarCoder: every digit is its own piece (`Digits(individual_digits)`),
    /// then the GPT-2 expression runs on the text between digits.
    case smollm
    /// Llama 3: ``llama3Regex`` (numbers in groups of up to three digits).
    case llamaBPE = "llama-bpe"
    /// Qwen2: ``qwen2Regex`` (like Llama 3 with single digits).
    case qwen2
    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    case gpt2

    /// Llama 3's split expression, as written in its tokenizer.json.
    public static let llama3Regex =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    /// Qwen2's split expression, as written in its tokenizer.json.
    public static let qwen2Regex =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Parses a GGUF `tokenizer.ggml.pre` name; unknown names throw ``TokenizerError/unknownPreTokenizer(_:)``.
    /// Also accepts llama.cpp's aliases: "deepseek-r1-qwen" (DeepSeek-R1-Distill-Qwen) is "qwen2".
    public init(name: String) throws {
        if let alias = PreTokenizer.aliases[name] { self = alias; return }
        guard let p = PreTokenizer(rawValue: name) else { throw TokenizerError.unknownPreTokenizer(name) }
        self = p
    }

    /// Other `tokenizer.ggml.pre` names llama.cpp maps onto these pre-tokenizers.
    public static let aliases: [String: PreTokenizer] = ["deepseek-r1-qwen": .qwen2]

    /// Splits text into words and returns them as strings (for inspection and tests).
    public func split(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        var scratch = PreTokenizerScratch()
        var out = [String]()
        bytes.withUnsafeBufferPointer { buf in
            split(buf, scratch: &scratch) { r in out.append(String(decoding: buf[r], as: UTF8.self)) }
        }
        return out
    }

    /// Splits valid UTF-8 into words, calling `body` with each word's byte range, in order.
    func split(_ bytes: UnsafeBufferPointer<UInt8>, scratch s: inout PreTokenizerScratch, _ body: (Range<Int>) -> Void) {
        s.load(bytes)
        let n = s.count
        guard n > 0 else { return }
        s.ends.removeAll(keepingCapacity: true)
        switch self {
        case .gpt2: s.scanGPT2(0, n)
        case .smollm:
            var lo = 0
            for i in 0..<n where s.cls[i] == ScalarClass.number {
                if lo < i { s.scanGPT2(lo, i) }
                s.ends.append(Int32(i + 1))
                lo = i + 1
            }
            if lo < n { s.scanGPT2(lo, n) }
        case .llamaBPE: s.scanLlama3(0, n, maxDigits: 3)
        case .qwen2: s.scanLlama3(0, n, maxDigits: 1)
        }
        var start = 0
        for e in s.ends {
            let a = Int(s.off[start]), b = Int(s.off[Int(e)])
            body(a..<b)
            start = Int(e)
        }
    }
}

/// Character classes the expressions distinguish.
enum ScalarClass {
    static let other: UInt8 = 0, letter: UInt8 = 1, number: UInt8 = 2, space: UInt8 = 3

    static let ascii: [UInt8] = (0..<128).map { classify(UInt32($0)) }

    static func classify(_ v: UInt32) -> UInt8 {
        guard let u = Unicode.Scalar(v) else { return other }
        let p = u.properties
        if p.isWhitespace { return space }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return letter
        case .decimalNumber, .letterNumber, .otherNumber: return number
        default: return other
        }
    }
}

/// Reusable buffers of the scanners: the scalars of a text, their classes and byte offsets.
struct PreTokenizerScratch {
    var sc = [UInt32]()      // [n] scalar values
    var cls = [UInt8]()      // [n] ScalarClass
    var off = [Int32]()      // [n + 1] byte offset of each scalar, then the byte count
    var ends = [Int32]()     // word ends, as scalar indices
    var count: Int { sc.count }

    mutating func load(_ bytes: UnsafeBufferPointer<UInt8>) {
        sc.removeAll(keepingCapacity: true)
        cls.removeAll(keepingCapacity: true)
        off.removeAll(keepingCapacity: true)
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = UInt32(bytes[i])
            off.append(Int32(i))
            if b0 < 0x80 {
                sc.append(b0); cls.append(ScalarClass.ascii[Int(b0)]); i += 1
                continue
            }
            var v: UInt32
            if b0 < 0xE0 {
                v = (b0 & 0x1F) << 6 | (UInt32(bytes[i + 1]) & 0x3F); i += 2
            } else if b0 < 0xF0 {
                v = (b0 & 0x0F) << 12 | (UInt32(bytes[i + 1]) & 0x3F) << 6 | (UInt32(bytes[i + 2]) & 0x3F); i += 3
            } else {
                v = (b0 & 0x07) << 18 | (UInt32(bytes[i + 1]) & 0x3F) << 12 | (UInt32(bytes[i + 2]) & 0x3F) << 6
                    | (UInt32(bytes[i + 3]) & 0x3F)
                i += 4
            }
            sc.append(v); cls.append(ScalarClass.classify(v))
        }
        off.append(Int32(n))
    }

    @inline(__always) func run(_ i: Int, _ hi: Int, _ c: UInt8) -> Int {
        var j = i
        while j < hi && cls[j] == c { j += 1 }
        return j
    }

    @inline(__always) func isNewline(_ i: Int) -> Bool { sc[i] == 0x0A || sc[i] == 0x0D }

    /// End of a contraction (`'s 't 're 've 'm 'll 'd`) starting at `i`, or nil.
    func contraction(_ i: Int, _ hi: Int, ignoreCase: Bool) -> Int? {
        guard sc[i] == 0x27, i + 1 < hi else { return nil }
        func low(_ k: Int) -> UInt32 {
            let v = sc[k]
            guard ignoreCase else { return v }
            if v >= 0x41 && v <= 0x5A { return v + 32 }
            if v == 0x17F { return 0x73 }      // ſ folds to s
            if v == 0x212A { return 0x6B }     // Kelvin sign folds to k
            return v
        }
        let a = low(i + 1)
        if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return i + 2 }  // s t m d
        guard i + 2 < hi else { return nil }
        let b = low(i + 2)
        if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return i + 3 }  // re ve ll
        return nil
    }

    /// `\s+(?!\S)|\s+` at `i` (a space character): the run, minus its last character when a non-space follows.
    @inline(__always) func spaceRun(_ i: Int, _ hi: Int) -> Int {
        let e = run(i, hi, ScalarClass.space)
        if e == hi || e - i < 2 { return e }
        return e - 1
    }

    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` over [lo, hi).
    mutating func scanGPT2(_ lo: Int, _ hi: Int) {
        var i = lo
        while i < hi {
            let c = cls[i]
            var j: Int
            if let k = contraction(i, hi, ignoreCase: false) {
                j = k
            } else if sc[i] == 0x20 && i + 1 < hi && cls[i + 1] != ScalarClass.space {
                j = run(i + 1, hi, cls[i + 1])
            } else if c != ScalarClass.space {
                j = run(i, hi, c)
            } else {
                j = spaceRun(i, hi)
            }
            ends.append(Int32(j))
            i = j
        }
    }

    /// Llama 3 / Qwen2: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,maxDigits}|
    /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+` over [lo, hi).
    mutating func scanLlama3(_ lo: Int, _ hi: Int, maxDigits: Int) {
        var i = lo
        while i < hi {
            let c = cls[i]
            var j: Int
            if let k = contraction(i, hi, ignoreCase: true) {
                j = k
            } else if c == ScalarClass.letter {
                j = run(i, hi, c)
            } else if c != ScalarClass.number && !isNewline(i) && i + 1 < hi && cls[i + 1] == ScalarClass.letter {
                j = run(i + 1, hi, ScalarClass.letter)
            } else if c == ScalarClass.number {
                j = i + 1
                while j < hi && j - i < maxDigits && cls[j] == ScalarClass.number { j += 1 }
            } else if c == ScalarClass.other || (sc[i] == 0x20 && i + 1 < hi && cls[i + 1] == ScalarClass.other) {
                j = run(c == ScalarClass.other ? i : i + 1, hi, ScalarClass.other)
                while j < hi && isNewline(j) { j += 1 }
            } else {
                let e = run(i, hi, ScalarClass.space)
                var lastNL = -1
                var k = e - 1
                while k >= i { if isNewline(k) { lastNL = k; break }; k -= 1 }
                j = lastNL >= 0 ? lastNL + 1 : spaceRun(i, hi)
            }
            ends.append(Int32(j))
            i = j
        }
    }
}
