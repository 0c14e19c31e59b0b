/// Errors from reading or writing LoRA adapter files (PEFT folders, llama.cpp LoRA GGUF).
/// Every case names the file and, where it applies, the tensor key and the expected vs actual values.
public enum AdapterError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A file or folder could not be found, read, created or renamed.
    case io(path: String, message: String)
    /// `adapter_config.json` is missing a field or holds an invalid value.
    case invalidConfig(path: String, field: String, message: String)
    /// The adapter uses a PEFT feature LoRAKit does not implement (DoRA, biases, rank patterns, …).
    case unsupported(path: String, message: String)
    /// A tensor the configuration calls for is absent.
    case missingTensor(path: String, key: String)
    /// A tensor whose name is not a LoRA factor of a known module, or appears twice.
    case unexpectedTensor(path: String, key: String, message: String)
    /// A tensor's rank dimension differs from the configuration's `r`.
    case rankMismatch(path: String, key: String, expectedRank: Int, shape: [Int])
    /// A tensor's shape does not fit the base model: the adapter was made for another base.
    case wrongBase(path: String, key: String, expected: [Int], actual: [Int])
    /// The adapter covers layers the base model does not have.
    case layerOutOfRange(path: String, key: String, layer: Int, layerCount: Int)
    /// The adapter covers fewer layers than the base model has.
    case layerCountMismatch(path: String, adapterLayers: Int, modelLayers: Int)
    /// A tensor has an element type that is not F32, F16 or BF16.
    case unsupportedDType(path: String, key: String, dtype: String)
    /// The underlying file is malformed (truncated, bad header, …).
    case format(FormatError)

    public var description: String {
        switch self {
        case let .io(path, message):
            return "\(path): \(message)"
        case let .invalidConfig(path, field, message):
            return "\(path): invalid adapter config field '\(field)': \(message)"
        case let .unsupported(path, message):
            return "\(path): unsupported adapter: \(message)"
        case let .missingTensor(path, key):
            return "\(path): missing tensor '\(key)'"
        case let .unexpectedTensor(path, key, message):
            return "\(path): unexpected tensor '\(key)': \(message)"
        case let .rankMismatch(path, key, r, shape):
            return "\(path): tensor '\(key)' has shape \(shape), which does not match the adapter's rank r=\(r)"
        case let .wrongBase(path, key, expected, actual):
            return "\(path): tensor '\(key)' has shape \(actual) but this base model needs \(expected): "
                + "the adapter was made for a different base model"
        case let .layerOutOfRange(path, key, layer, n):
            return "\(path): tensor '\(key)' adapts layer \(layer) but the base model has \(n) layers (0…\(n - 1)): "
                + "the adapter was made for a different base model"
        case let .layerCountMismatch(path, a, m):
            return "\(path): the adapter covers \(a) layers but the base model has \(m): "
                + "the adapter was made for a different base model"
        case let .unsupportedDType(path, key, dtype):
            return "\(path): tensor '\(key)' has dtype \(dtype); adapters are read from F32, F16 or BF16"
        case let .format(e):
            return e.description
        }
    }
}
