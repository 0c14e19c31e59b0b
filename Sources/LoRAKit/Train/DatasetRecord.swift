import Foundation

/// Line formats of a JSONL dataset (the conventions of mlx-lm and TRL), detected per file from its
/// first valid line.
public enum DatasetFormat: String, Codable, Sendable, CaseIterable {
    /// `{"text": "..."}`: plain text, loss on every token.
    case text
    /// `{"messages": [{"role": "...", "content": "..."}, ...]}`: rendered with the chat template.
    case chat
    /// `{"prompt": "...", "completion": "..."}`: the completion follows the prompt.
    case promptCompletion = "prompt-completion"
}

/// One parsed dataset line.
public enum DatasetRecord: Sendable, Equatable {
    case text(String)
    case chat([ChatMessage])
    case promptCompletion(prompt: String, completion: String)

    /// The format of this record.
    public var format: DatasetFormat {
        switch self {
        case .text: return .text
        case .chat: return .chat
        case .promptCompletion: return .promptCompletion
        }
    }

    /// The format a JSON object's keys announce, if any.
    static func detect(_ obj: [String: Any]) -> DatasetFormat? {
        if obj["messages"] != nil { return .chat }
        if obj["prompt"] != nil || obj["completion"] != nil { return .promptCompletion }
        if obj["text"] != nil { return .text }
        return nil
    }

    /// Parses one line (without its newline). `format` is the file's format once known.
    static func parse(_ line: ArraySlice<UInt8>, format: DatasetFormat?) -> Result<DatasetRecord, LineProblem> {
        let text = String(decoding: line, as: UTF8.self)
        guard text.utf8.elementsEqual(line) else { return .failure(.invalidUTF8) }
        let any: Any
        do { any = try JSONSerialization.jsonObject(with: Data(line), options: [.fragmentsAllowed]) } catch {
            return .failure(.invalidJSON(Self.shortMessage(error)))
        }
        guard let obj = any as? [String: Any] else { return .failure(.notAnObject) }
        guard let f = format ?? detect(obj) else { return .failure(.unknownFormat(keys: Array(obj.keys))) }
        func string(_ key: String, allowEmpty: Bool = false) -> Result<String, LineProblem> {
            guard let v = obj[key], !(v is NSNull) else { return .failure(.missingField(key)) }
            guard let s = v as? String else { return .failure(.wrongType(field: key, expected: "a string")) }
            if !allowEmpty && s.isEmpty { return .failure(.emptyText(field: key)) }
            return .success(s)
        }
        switch f {
        case .text:
            return string("text").map { .text($0) }
        case .promptCompletion:
            switch (string("prompt", allowEmpty: true), string("completion")) {
            case (.failure(let e), _), (_, .failure(let e)): return .failure(e)
            case (.success(let p), .success(let c)): return .success(.promptCompletion(prompt: p, completion: c))
            }
        case .chat:
            guard let v = obj["messages"], !(v is NSNull) else { return .failure(.missingField("messages")) }
            guard let list = v as? [Any] else { return .failure(.wrongType(field: "messages", expected: "an array")) }
            if list.isEmpty { return .failure(.emptyText(field: "messages")) }
            var msgs = [ChatMessage]()
            for (i, m) in list.enumerated() {
                let field = "messages[\(i)]"
                guard let m = m as? [String: Any] else { return .failure(.wrongType(field: field, expected: "an object")) }
                guard let r = m["role"], !(r is NSNull) else { return .failure(.missingField(field + ".role")) }
                guard let role = r as? String else { return .failure(.wrongType(field: field + ".role", expected: "a string")) }
                if role.isEmpty { return .failure(.emptyText(field: field + ".role")) }
                guard let c = m["content"], !(c is NSNull) else { return .failure(.missingField(field + ".content")) }
                guard let content = c as? String else {
                    return .failure(.wrongType(field: field + ".content", expected: "a string"))
                }
                msgs.append(ChatMessage(role: role, content: content))
            }
            if msgs.allSatisfy({ $0.content.isEmpty }) { return .failure(.emptyText(field: "messages")) }
            return .success(.chat(msgs))
        }
    }

    private static func shortMessage(_ error: Error) -> String {
        let ns = error as NSError
        let m = (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
        return m.count > 120 ? String(m.prefix(120)) + "…" : m
    }
}
