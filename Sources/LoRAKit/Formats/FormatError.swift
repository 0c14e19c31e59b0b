/// Errors from reading or writing model files (GGUF, safetensors, HF `config.json`) and from
/// matching their tensors to a model. Every case names the file and what was wrong with it;
/// byte offsets are given where the problem sits at a place in the file.
public enum FormatError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened, sized, mapped or written.
    case io(path: String, message: String)
    /// The file ended before a field could be read.
    case truncated(path: String, field: String, offset: Int, needed: Int, available: Int)
    /// The file does not start with the expected magic bytes.
    case badMagic(path: String, found: String)
    /// A format version this reader does not support.
    case unsupportedVersion(path: String, version: Int)
    /// A field holds a value that is impossible or outside the supported range.
    case invalidValue(path: String, field: String, offset: Int, message: String)
    /// A metadata key or tensor name appears twice.
    case duplicate(path: String, kind: String, name: String, offset: Int)
    /// A known metadata key holds a value of the wrong type.
    case wrongType(path: String, key: String, expected: String, found: String)
    /// A required metadata key or tensor is absent.
    case missing(path: String, what: String)
    /// A tensor's data is misplaced: misaligned, out of bounds, overlapping or mis-sized.
    case badTensor(path: String, tensor: String, message: String)
    /// A tensor's shape disagrees with the model configuration.
    case shapeMismatch(path: String, tensor: String, expected: [Int], actual: [Int])
    /// The file is well formed but describes something LoRAKit does not support.
    case unsupported(path: String, message: String)

    public var description: String {
        switch self {
        case let .io(path, message):
            return "\(path): \(message)"
        case let .truncated(path, field, offset, needed, available):
            return "\(path): truncated file: \(field) at byte offset \(offset) needs \(needed) bytes but only \(available) remain"
        case let .badMagic(path, found):
            return "\(path): bad magic \(found): not a file of the expected format"
        case let .unsupportedVersion(path, version):
            return "\(path): unsupported format version \(version)"
        case let .invalidValue(path, field, offset, message):
            return "\(path): invalid \(field) at byte offset \(offset): \(message)"
        case let .duplicate(path, kind, name, offset):
            return "\(path): duplicate \(kind) '\(name)' at byte offset \(offset)"
        case let .wrongType(path, key, expected, found):
            return "\(path): metadata key '\(key)' has type \(found), expected \(expected)"
        case let .missing(path, what):
            return "\(path): missing \(what)"
        case let .badTensor(path, tensor, message):
            return "\(path): tensor '\(tensor)': \(message)"
        case let .shapeMismatch(path, tensor, expected, actual):
            return "\(path): tensor '\(tensor)' has shape \(actual), expected \(expected)"
        case let .unsupported(path, message):
            return "\(path): unsupported: \(message)"
        }
    }
}
