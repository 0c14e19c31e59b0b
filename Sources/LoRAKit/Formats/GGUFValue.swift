/// A GGUF metadata value (all thirteen GGUF value types; arrays may nest).
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), array([GGUFValue])
    case uint64(UInt64), int64(Int64), float64(Double)

    /// GGUF value type ids, as stored in the file.
    public enum Kind: UInt32, Sendable, CaseIterable, CustomStringConvertible {
        case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6
        case bool = 7, string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

        /// Fixed size in bytes of one value, nil for strings and arrays.
        public var fixedSize: Int? {
            switch self {
            case .uint8, .int8, .bool: return 1
            case .uint16, .int16: return 2
            case .uint32, .int32, .float32: return 4
            case .uint64, .int64, .float64: return 8
            case .string, .array: return nil
            }
        }

        /// Smallest encoding of one value (a string needs its 8-byte length, an array 12 bytes).
        var minSize: Int { fixedSize ?? (self == .string ? 8 : 12) }

        public var description: String {
            switch self {
            case .uint8: return "uint8"
            case .int8: return "int8"
            case .uint16: return "uint16"
            case .int16: return "int16"
            case .uint32: return "uint32"
            case .int32: return "int32"
            case .float32: return "float32"
            case .bool: return "bool"
            case .string: return "string"
            case .array: return "array"
            case .uint64: return "uint64"
            case .int64: return "int64"
            case .float64: return "float64"
            }
        }
    }

    /// The value's GGUF type.
    public var kind: Kind {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        }
    }

    /// A readable type name such as `uint32` or `array[string]`.
    public var typeName: String {
        if case .array(let a) = self { return "array[\(a.first?.typeName ?? "")]" }
        return kind.description
    }

    /// The value of any integer case, when it fits an Int.
    public var int: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(exactly: v)
        default: return nil
        }
    }

    /// The value of a float case (or of an integer case, converted).
    public var float: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return int.map(Double.init)
        }
    }

    /// The value of a `.bool`.
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    /// The value of a `.string`.
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    /// The items of an `.array`.
    public var array: [GGUFValue]? { if case .array(let a) = self { return a }; return nil }

    /// An array of strings, or nil when this is not one.
    public var stringArray: [String]? {
        guard case .array(let a) = self else { return nil }
        var out: [String] = []
        out.reserveCapacity(a.count)
        for v in a { guard case .string(let s) = v else { return nil }; out.append(s) }
        return out
    }

    /// An array of integers, or nil when this is not one.
    public var intArray: [Int]? {
        guard case .array(let a) = self else { return nil }
        var out: [Int] = []
        out.reserveCapacity(a.count)
        for v in a { guard let i = v.int else { return nil }; out.append(i) }
        return out
    }

    /// An array of numbers as floats, or nil when this is not one.
    public var floatArray: [Double]? {
        guard case .array(let a) = self else { return nil }
        var out: [Double] = []
        out.reserveCapacity(a.count)
        for v in a { guard let f = v.float else { return nil }; out.append(f) }
        return out
    }
}

extension GGUFValue {
    /// Deepest array nesting accepted (an array of arrays of arrays).
    static let maxArrayDepth = 3

    /// Reads a value of `kind` at the reader's cursor.
    static func read(_ r: inout ByteReader, kind: Kind, field: String, depth: Int = 0) throws -> GGUFValue {
        switch kind {
        case .uint8: return .uint8(try r.read(UInt8.self, field))
        case .int8: return .int8(try r.read(Int8.self, field))
        case .uint16: return .uint16(try r.read(UInt16.self, field))
        case .int16: return .int16(try r.read(Int16.self, field))
        case .uint32: return .uint32(try r.read(UInt32.self, field))
        case .int32: return .int32(try r.read(Int32.self, field))
        case .uint64: return .uint64(try r.read(UInt64.self, field))
        case .int64: return .int64(try r.read(Int64.self, field))
        case .float32: return .float32(try r.f32(field))
        case .float64: return .float64(try r.f64(field))
        case .bool:
            let at = r.offset
            let b = try r.u8(field)
            guard b <= 1 else {
                throw FormatError.invalidValue(path: r.path, field: field, offset: at, message: "bool byte is \(b), expected 0 or 1")
            }
            return .bool(b == 1)
        case .string: return .string(try r.string(field))
        case .array:
            guard depth < maxArrayDepth else {
                throw FormatError.invalidValue(path: r.path, field: field, offset: r.offset,
                                               message: "arrays nested deeper than \(maxArrayDepth) levels")
            }
            let itemKind = try readKind(&r, field: "\(field) (array item type)")
            let countAt = r.offset
            let n = try r.length("\(field) (array count)", elementBytes: itemKind.minSize)
            guard n <= r.itemBudget else {
                throw FormatError.invalidValue(path: r.path, field: "\(field) (array count)", offset: countAt,
                                               message: "\(n) items exceed the limit of \(ByteReader.maxMetadataItems) metadata array items per file")
            }
            r.itemBudget -= n
            var items: [GGUFValue] = []
            items.reserveCapacity(n)
            switch itemKind {
            case .string:
                for _ in 0 ..< n { items.append(.string(try r.string(field))) }
            case .uint32:
                for _ in 0 ..< n { items.append(.uint32(try r.read(UInt32.self, field))) }
            case .int32:
                for _ in 0 ..< n { items.append(.int32(try r.read(Int32.self, field))) }
            case .float32:
                for _ in 0 ..< n { items.append(.float32(try r.f32(field))) }
            default:
                for _ in 0 ..< n { items.append(try read(&r, kind: itemKind, field: field, depth: depth + 1)) }
            }
            return .array(items)
        }
    }

    static func readKind(_ r: inout ByteReader, field: String) throws -> Kind {
        let at = r.offset
        let raw = try r.u32(field)
        guard let k = Kind(rawValue: raw) else {
            throw FormatError.invalidValue(path: r.path, field: field, offset: at, message: "unknown value type id \(raw)")
        }
        return k
    }

    /// Appends the value's encoding (without its type id) to `out`.
    func encode(into out: inout [UInt8]) {
        func le<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        switch self {
        case .uint8(let v): le(v)
        case .int8(let v): le(v)
        case .uint16(let v): le(v)
        case .int16(let v): le(v)
        case .uint32(let v): le(v)
        case .int32(let v): le(v)
        case .uint64(let v): le(v)
        case .int64(let v): le(v)
        case .float32(let v): le(v.bitPattern)
        case .float64(let v): le(v.bitPattern)
        case .bool(let b): le(UInt8(b ? 1 : 0))
        case .string(let s):
            let u = Array(s.utf8)
            le(UInt64(u.count)); out.append(contentsOf: u)
        case .array(let a):
            le((a.first?.kind ?? .uint8).rawValue)
            le(UInt64(a.count))
            for v in a { v.encode(into: &out) }
        }
    }
}
