import Foundation

/// A LoRA adapter ready for inference over a loaded base: its layout and fp32 factors in one owned,
/// aligned buffer. Several adapters can share one ``ModelWeights``; the base is never copied.
public final class LoRAAdapter: @unchecked Sendable {
    /// A label for reports and the CLI (e.g. the adapter folder name).
    public let name: String
    public let config: LoRAConfig
    public let slots: [LoRASlot]
    /// A and B of every slot, flat (LoRAParameters layout). [count]
    let values: FloatBuffer

    /// Wraps trained or loaded parameters (copied once into the adapter's buffer).
    public init(name: String, parameters p: LoRAParameters) {
        self.name = name
        config = p.config
        slots = p.slots
        values = FloatBuffer(p.count)
        values.copy(from: p.values)
    }

    /// Loads a PEFT adapter folder for `model`.
    public convenience init(peftDirectory dir: String, model: LlamaConfig, name: String? = nil) throws {
        let p = try LoRAParameters.loadPEFT(from: dir, model: model)
        self.init(name: name ?? URL(fileURLWithPath: dir).lastPathComponent, parameters: p)
    }

    /// Bytes held by the factors.
    public var byteCount: Int { values.bytes }
}

/// Named adapters over one base model, switched per request (the "one base + N adapters" case).
public final class AdapterSet: @unchecked Sendable {
    public let model: ModelWeights
    public private(set) var adapters: [LoRAAdapter] = []

    public init(model: ModelWeights) { self.model = model }

    /// Loads a PEFT folder and adds it; returns the adapter.
    @discardableResult
    public func load(peftDirectory dir: String, name: String? = nil) throws -> LoRAAdapter {
        let a = try LoRAAdapter(peftDirectory: dir, model: model.config, name: name)
        adapters.append(a)
        return a
    }

    /// Adds an adapter made in memory.
    public func add(_ a: LoRAAdapter) { adapters.append(a) }

    /// The adapter with this name.
    public subscript(name: String) -> LoRAAdapter? { adapters.first { $0.name == name } }
}
