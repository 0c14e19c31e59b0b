/// Tensor-info parsing and the structural checks of a GGUF file.
extension GGUFFile {
    /// A tensor info as read, before its data is placed.
    struct RawTensorInfo {
        var name: String
        var dims: [Int]
        var type: GGMLType
        var offset: Int
        /// Where the info starts in the file.
        var at: Int
    }

    /// Most dimensions a tensor may have (ggml's GGML_MAX_DIMS).
    static let maxDims = 4

    /// Names of ggml type ids LoRAKit does not load, for clearer errors.
    static func ggmlTypeName(_ id: UInt32) -> String? {
        let names: [UInt32: String] = [
            9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 15: "Q8_K",
            16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S",
            22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64",
            29: "IQ1_M", 34: "TQ1_0", 35: "TQ2_0",
        ]
        return names[id]
    }

    static func readTensorInfo(_ r: inout ByteReader, index i: Int) throws -> RawTensorInfo {
        let path = r.path
        let at = r.offset
        let name = try r.string("name of tensor #\(i)")
        guard !name.isEmpty else {
            throw FormatError.invalidValue(path: path, field: "name of tensor #\(i)", offset: at, message: "empty name")
        }
        let nAt = r.offset
        let nDims = try r.u32("n_dims of tensor '\(name)'")
        guard nDims >= 1, nDims <= UInt32(maxDims) else {
            throw FormatError.invalidValue(path: path, field: "n_dims of tensor '\(name)'", offset: nAt,
                                           message: "\(nDims) dimensions, expected 1 to \(maxDims)")
        }
        var dims: [Int] = []
        var product = 1
        for d in 0 ..< Int(nDims) {
            let dAt = r.offset
            let v = try r.i64("dim \(d) of tensor '\(name)'")
            guard v > 0 else {
                throw FormatError.invalidValue(path: path, field: "dim \(d) of tensor '\(name)'", offset: dAt,
                                               message: "dimension \(v) must be positive")
            }
            let (p, o) = product.multipliedReportingOverflow(by: Int(v))
            guard !o, p <= Int(Int64.max / 8) else {
                throw FormatError.invalidValue(path: path, field: "dim \(d) of tensor '\(name)'", offset: dAt,
                                               message: "element count overflows")
            }
            product = p
            dims.append(Int(v))
        }
        let tAt = r.offset
        let typeID = try r.u32("type of tensor '\(name)'")
        guard let type = GGMLType(rawValue: typeID) else {
            let supported = GGMLType.allCases.map(\.description).joined(separator: ", ")
            let known = ggmlTypeName(typeID).map { "ggml type \($0) (id \(typeID)) is not supported (LoRAKit reads \(supported))" }
            throw FormatError.invalidValue(path: path, field: "type of tensor '\(name)'", offset: tAt,
                                           message: known ?? "unknown tensor type id \(typeID)")
        }
        guard dims[0] % type.blockSize == 0 else {
            throw FormatError.invalidValue(path: path, field: "dim 0 of tensor '\(name)'", offset: nAt + 4,
                                           message: "row of \(dims[0]) elements is not a multiple of the \(type) block size \(type.blockSize)")
        }
        let oAt = r.offset
        let off = try r.u64("offset of tensor '\(name)'")
        guard off <= UInt64(Int.max / 2) else {
            throw FormatError.invalidValue(path: path, field: "offset of tensor '\(name)'", offset: oAt,
                                           message: "offset \(off) is beyond any file")
        }
        return RawTensorInfo(name: name, dims: dims, type: type, offset: Int(off), at: at)
    }

    /// Sizes each tensor and checks its data is aligned, inside the file and not overlapping another.
    static func placeTensors(_ raw: [RawTensorInfo], dataOffset: Int, alignment: Int, fileSize: Int,
                             path: String) throws -> [GGUFTensorInfo] {
        var out: [GGUFTensorInfo] = []
        out.reserveCapacity(raw.count)
        for t in raw {
            guard let rb = t.type.rowBytes(t.dims[0]) else {
                throw FormatError.badTensor(path: path, tensor: t.name, message: "row size does not fit type \(t.type)")
            }
            let rows = t.dims.dropFirst().reduce(1, *)   // cannot overflow: checked while reading
            let (bytes, o1) = rb.multipliedReportingOverflow(by: rows)
            let (start, o2) = dataOffset.addingReportingOverflow(t.offset)
            let (end, o3) = start.addingReportingOverflow(bytes)
            guard t.offset % alignment == 0 else {
                throw FormatError.badTensor(path: path, tensor: t.name,
                                            message: "data offset \(t.offset) is not a multiple of the alignment \(alignment)")
            }
            guard !o1, !o2, !o3, end <= fileSize else {
                throw FormatError.badTensor(path: path, tensor: t.name,
                                            message: "data at file offset \(start) + \(bytes) bytes runs past the end of the file (\(fileSize) bytes): a cut-off download or a header-only file, without the weights")
            }
            out.append(GGUFTensorInfo(name: t.name, dims: t.dims, type: t.type, offset: t.offset,
                                      fileOffset: start, byteCount: bytes))
        }
        let sorted = out.sorted { ($0.offset, $0.byteCount) < ($1.offset, $1.byteCount) }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.offset + a.byteCount > b.offset {
            throw FormatError.badTensor(path: path, tensor: b.name,
                                        message: "data at offset \(b.offset) overlaps tensor '\(a.name)' (offset \(a.offset), \(a.byteCount) bytes)")
        }
        return out
    }

    /// `general.alignment`: a power of two, 1 to 2^20; 32 when absent.
    static func alignment(_ md: [String: GGUFValue], path: String) throws -> Int {
        guard let v = md["general.alignment"] else { return 32 }
        guard let a = v.int, a > 0, a <= 1 << 20, a & (a - 1) == 0 else {
            throw FormatError.invalidValue(path: path, field: "general.alignment", offset: 0,
                                           message: "\(v) is not a power of two between 1 and 2^20")
        }
        return a
    }

    /// Value shapes expected for well-known keys.
    enum Expect: CustomStringConvertible {
        case integer, float, string, bool, stringArray, intArray, floatArray

        func accepts(_ v: GGUFValue) -> Bool {
            switch self {
            case .integer: return v.int != nil
            case .float: return v.kind == .float32 || v.kind == .float64
            case .string: return v.string != nil
            case .bool: return v.bool != nil
            case .stringArray: return v.stringArray != nil
            case .intArray: return v.intArray != nil
            case .floatArray:
                guard case .array(let a) = v else { return false }
                return a.allSatisfy { $0.kind == .float32 || $0.kind == .float64 }
            }
        }

        var description: String {
            switch self {
            case .integer: return "an integer"
            case .float: return "a float"
            case .string: return "string"
            case .bool: return "bool"
            case .stringArray: return "array[string]"
            case .intArray: return "array[integer]"
            case .floatArray: return "array[float]"
            }
        }
    }

    static let knownKeys: [String: Expect] = [
        "general.architecture": .string, "general.name": .string, "general.type": .string,
        "general.alignment": .integer, "general.file_type": .integer, "general.quantization_version": .integer,
        "tokenizer.ggml.model": .string, "tokenizer.ggml.pre": .string, "tokenizer.chat_template": .string,
        "tokenizer.ggml.tokens": .stringArray, "tokenizer.ggml.merges": .stringArray,
        "tokenizer.ggml.token_type": .intArray, "tokenizer.ggml.scores": .floatArray,
        "tokenizer.ggml.bos_token_id": .integer, "tokenizer.ggml.eos_token_id": .integer,
        "tokenizer.ggml.unknown_token_id": .integer, "tokenizer.ggml.padding_token_id": .integer,
        "tokenizer.ggml.add_bos_token": .bool, "tokenizer.ggml.add_eos_token": .bool,
        "tokenizer.ggml.add_space_prefix": .bool,
        "adapter.type": .string, "adapter.lora.alpha": .float,
    ]

    /// Per-architecture keys, written without the `<arch>.` prefix.
    static let knownArchKeys: [String: Expect] = [
        "block_count": .integer, "context_length": .integer, "embedding_length": .integer,
        "feed_forward_length": .integer, "attention.head_count": .integer,
        "attention.head_count_kv": .integer, "vocab_size": .integer, "rope.dimension_count": .integer,
        "rope.freq_base": .float, "attention.layer_norm_rms_epsilon": .float,
        "rope.scaling.factor": .float, "rope.scaling.original_context_length": .integer,
    ]

    /// Rejects well-known keys holding a value of the wrong type (e.g. `llama.block_count` as a string).
    static func checkKnownKeyTypes(_ md: [String: GGUFValue], path: String) throws {
        func check(_ key: String, _ e: Expect) throws {
            if let v = md[key], !e.accepts(v) {
                throw FormatError.wrongType(path: path, key: key, expected: e.description, found: v.typeName)
            }
        }
        for (k, e) in knownKeys { try check(k, e) }
        var archs: Set<String> = ["llama"]
        if let a = md["general.architecture"]?.string { archs.insert(a) }
        for a in archs { for (k, e) in knownArchKeys { try check("\(a).\(k)", e) } }
    }
}
